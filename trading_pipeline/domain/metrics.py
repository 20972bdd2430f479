"""Performance of a book from its equity curve and fills, by explicit formulas.

The formulas are spelled out here (rather than taken from quantstats) so the reported numbers are
reproducible and testable against hand computations.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pandas as pd

from trading_pipeline.domain.book import check_trade_frame

FILL_METRIC_COLUMNS = ["session", "symbol", "side", "qty", "price", "commission"]
ROUND_TRIP_COLUMNS = [
    "symbol",
    "strategy",
    "entry_session",
    "exit_session",
    "qty",
    "entry_price",
    "exit_price",
    "gross_pnl",
    "commission",
    "pnl",
]
# Share quantities below this are float dust, not a position.
QTY_EPS = 1e-9


def _check_fills(fills: pd.DataFrame) -> pd.DataFrame:
    check_trade_frame(fills, FILL_METRIC_COLUMNS, "fills")
    # The strategy that decided a fill is optional: a round trip is credited to its entry's strategy.
    frame = fills[FILL_METRIC_COLUMNS + (["strategy"] if "strategy" in fills.columns else [])].copy()
    if "strategy" not in frame.columns:
        frame["strategy"] = None
    frame["strategy"] = frame["strategy"].astype(object).where(frame["strategy"].notna(), None)
    frame["session"] = pd.to_datetime(frame["session"]).astype("datetime64[ns]")
    if (frame["qty"] <= 0).any():
        raise ValueError("fills must have positive qty")
    # Within a session the broker fills sells before buys: a sell closes lots bought on earlier sessions.
    frame["_rank"] = (frame["side"] == "buy").astype("int64")
    return frame.sort_values(["symbol", "session", "_rank"], kind="stable").reset_index(drop=True)


def round_trips(fills: pd.DataFrame) -> pd.DataFrame:
    """Closed trades by FIFO lot matching per symbol; a partial close splits a lot.

    Commissions are allocated pro rata to the matched quantity of both the entry and the exit fill,
    so ``pnl`` (net) sums to the realized result; lots still open produce no row. Selling more than
    is held is an error (the book is long-only), not something to paper over. ``strategy`` is the
    entry fill's (None when the fills carry no ``strategy`` column): exits are bookkeeping of that trade.
    """
    frame = _check_fills(fills)
    rows: list[dict] = []
    for symbol, group in frame.groupby("symbol", sort=True):
        lots: deque[list] = deque()  # [session, remaining qty, price, commission per share, strategy]
        for session, side, qty, price, commission, strategy in zip(
            group["session"],
            group["side"],
            group["qty"],
            group["price"],
            group["commission"],
            group["strategy"],
            strict=True,
        ):
            if side == "buy":
                lots.append([session, float(qty), float(price), float(commission) / qty, strategy])
                continue
            remaining, exit_comm_per_share = float(qty), float(commission) / qty
            while remaining > QTY_EPS:
                if not lots:
                    raise ValueError(f"{symbol}: sell of {qty} on {session.date()} exceeds the shares held")
                lot = lots[0]
                matched = min(remaining, lot[1])
                gross = matched * (float(price) - lot[2])
                comm = matched * (lot[3] + exit_comm_per_share)
                rows.append(
                    {
                        "symbol": symbol,
                        "strategy": lot[4],
                        "entry_session": lot[0],
                        "exit_session": session,
                        "qty": matched,
                        "entry_price": lot[2],
                        "exit_price": float(price),
                        "gross_pnl": gross,
                        "commission": comm,
                        "pnl": gross - comm,
                    }
                )
                lot[1] -= matched
                remaining -= matched
                if lot[1] <= QTY_EPS:
                    lots.popleft()
    out = pd.DataFrame(rows, columns=ROUND_TRIP_COLUMNS)
    for col in ("entry_session", "exit_session"):
        out[col] = pd.to_datetime(out[col]).astype("datetime64[ns]")
    return out


def _exposure(index: pd.DatetimeIndex, fills: pd.DataFrame) -> float:
    """Share of sessions that end holding any position (positions are bought at the open, held at the close)."""
    if fills.empty:
        return 0.0
    signed = fills["qty"].where(fills["side"] == "buy", -fills["qty"])
    held = (
        fills.assign(signed=signed)
        .pivot_table(index="session", columns="symbol", values="signed", aggfunc="sum", fill_value=0.0)
        .sort_index()
        .cumsum()
    )
    held = held.reindex(held.index.union(index)).ffill().fillna(0.0).reindex(index)
    return float((held > QTY_EPS).any(axis=1).mean())


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 or not math.isfinite(den) else float(num / den)


def performance_metrics(
    equity: pd.Series, fills: pd.DataFrame, periods_per_year: int = 252
) -> dict[str, float | int | None]:
    """Headline metrics of an equity curve (one value per session, the first being the base) and its fills.

    Returns total_return, cagr, sharpe and sortino (daily simple returns, rf = 0, annualized by
    √periods_per_year; sortino's downside deviation is the RMS of the negative returns over all
    periods), max_drawdown (a non-positive fraction), calmar (cagr / |max_drawdown|), win_rate,
    profit_factor (None when no trade lost), n_round_trips, trades (positions opened: buy fills),
    exposure and turnover (traded notional of all fills / mean equity, times periods_per_year /
    sessions: the book's yearly trading as a multiple of its size). A ratio whose denominator is zero
    is None, never inf/NaN.
    """
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year}")
    if equity.empty:
        raise ValueError("equity curve is empty")
    values = equity.to_numpy(dtype="float64")
    if not np.isfinite(values).all() or (values <= 0).any():
        raise ValueError("equity must be finite and positive at every session")
    index = pd.DatetimeIndex(pd.to_datetime(equity.index)).astype("datetime64[ns]")
    if not index.is_monotonic_increasing or not index.is_unique:
        raise ValueError("equity must be indexed by strictly increasing sessions")

    checked = _check_fills(fills)
    trips = round_trips(checked)
    returns = values[1:] / values[:-1] - 1.0
    n = len(returns)
    total_return = float(values[-1] / values[0] - 1.0)
    sharpe = sortino = cagr = None
    if n >= 1:
        cagr = float((values[-1] / values[0]) ** (periods_per_year / n) - 1.0)
        downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
        sortino = _ratio(float(np.mean(returns)) * math.sqrt(periods_per_year), downside)
    if n >= 2:
        sharpe = _ratio(float(np.mean(returns)) * math.sqrt(periods_per_year), float(np.std(returns, ddof=1)))
    drawdown = values / np.maximum.accumulate(values) - 1.0
    max_drawdown = float(drawdown.min())
    calmar = None if cagr is None else _ratio(cagr, -max_drawdown)
    notional = float((checked["qty"] * checked["price"]).sum())
    turnover = notional / float(values.mean()) * periods_per_year / len(values)
    pnl = trips["pnl"].to_numpy(dtype="float64")
    gross_win, gross_loss = float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum())
    return {
        "total_return": total_return,
        "cagr": cagr,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": max_drawdown,
        "calmar": calmar,
        "win_rate": float((pnl > 0).mean()) if len(pnl) else None,
        "profit_factor": _ratio(gross_win, gross_loss),
        "n_round_trips": len(pnl),
        "trades": int((checked["side"] == "buy").sum()),
        "exposure": _exposure(index, checked),
        "turnover": turnover,
    }


TRADE_TABLE_COLUMNS = ["trades", "win_rate", "pnl", "profit_factor"]


def trade_table(trips: pd.DataFrame, by: str) -> pd.DataFrame:
    """Round trips grouped by ``by`` (e.g. symbol or strategy), indexed by it and sorted: trades (round
    trips), win_rate, pnl (net) and profit_factor (missing, NaN, when nothing lost). A missing key is "unknown"."""
    if by not in trips.columns:
        raise ValueError(f"round trips have no column {by!r}; expected one of {list(trips.columns)}")
    rows = {}
    for key, group in trips.assign(**{by: trips[by].fillna("unknown")}).groupby(by, sort=True):
        pnl = group["pnl"].to_numpy(dtype="float64")
        rows[key] = {
            "trades": len(pnl),
            "win_rate": float((pnl > 0).mean()),
            "pnl": float(pnl.sum()),
            "profit_factor": _ratio(float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum())),
        }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=TRADE_TABLE_COLUMNS)
    table.index.name = by
    return table.astype({"trades": "int64", "win_rate": "float64", "pnl": "float64", "profit_factor": "float64"})
