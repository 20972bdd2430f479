"""The risk engine: turns one session's signals into sized orders, and re-checks final orders independently.

``size_orders`` applies the limits while sizing. ``verify_orders`` re-derives every limit from the
decision-time snapshot carried on each order, vectorized over many sessions, without calling the
sizer — so a bug in the sizer cannot hide behind the same bug in the check that guards it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from trading_pipeline.domain.book import BookState, Order, RiskEvent, as_session, client_order_id
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.schema import Action

SIZING_SIGNAL_COLUMNS = ["symbol", "strategy", "action", "confidence", "stop", "target", "reason", "close", "atr14"]
VIOLATION_COLUMNS = ["session", "symbol", "rule", "value", "limit", "message"]
VERIFY_ORDER_COLUMNS = [
    "session",
    "symbol",
    "side",
    "qty",
    "ref_price",
    "stop_price",
    "confidence",
    "equity_at_decision",
    "cash_at_decision",
    "position_qty_before",
    "open_positions_before",
]
_BUY, _SELL, _HOLD = Action.BUY.value, Action.SELL.value, Action.HOLD.value
# Relative tolerance of the verification: absorbs float re-association, never a whole share.
RTOL = 1e-9


class RiskLimits(BaseModel):
    """Per-book risk limits; fractions are of equity at decision time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    risk_per_trade: float = Field(default=0.02, gt=0.0, le=1.0)
    atr_stop_multiple: float = Field(default=1.5, gt=0.0, le=20.0)
    max_position_pct: float = Field(default=0.20, gt=0.0, le=1.0)
    max_open_positions: int = Field(default=10, ge=1)
    max_shares_per_order: int = Field(default=10_000, ge=1)
    min_confidence: float = Field(default=0.3, ge=0.0, le=1.0)
    cash_buffer_pct: float = Field(default=0.0, ge=0.0, lt=1.0)


@dataclass(slots=True)
class _Candidate:
    symbol: str
    qty: int
    close: float
    atr: float
    stop_distance: float
    confidence: float
    strategy: str
    reason: str


def _num(value: object) -> float:
    """A signal cell as a float, NaN for missing."""
    if value is None or value is pd.NA:
        return math.nan
    return float(value)  # type: ignore[arg-type]


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA else str(value)


def _actionable_signals(session: date, signals: pd.DataFrame) -> list[dict]:
    """BUY/SELL rows of the session, validated; HOLD rows are dropped."""
    missing = sorted(set(SIZING_SIGNAL_COLUMNS) - set(signals.columns))
    if missing:
        raise ValueError(f"signals for {session} are missing columns {missing}")
    if "date" in signals.columns and len(signals):
        dates = {as_session(pd.Timestamp(d).to_pydatetime()) for d in signals["date"].unique()}
        if dates != {session}:
            raise ValueError(f"signals passed for {session} hold other dates: {sorted(dates)}")
    actions = set(signals["action"].unique())
    unknown = actions - {a.value for a in Action}
    if unknown:
        raise ValueError(f"signals for {session} hold unknown actions {sorted(map(str, unknown))}")
    rows = signals.loc[signals["action"] != _HOLD, SIZING_SIGNAL_COLUMNS]
    confidence = pd.to_numeric(rows["confidence"], errors="raise")
    out_of_range = (confidence < 0) | (confidence > 1)
    if out_of_range.any():
        raise ValueError(
            f"signals for {session} hold confidences outside [0, 1]: {sorted(rows.loc[out_of_range, 'symbol'])}"
        )
    duplicated = sorted(set(rows.loc[rows["symbol"].duplicated(), "symbol"]))
    if duplicated:
        raise ValueError(f"signals for {session} hold more than one BUY/SELL row for {duplicated}")
    columns = [rows[c].tolist() for c in SIZING_SIGNAL_COLUMNS]  # column-wise: far cheaper than to_dict("records")
    return sorted(
        (dict(zip(SIZING_SIGNAL_COLUMNS, values, strict=True)) for values in zip(*columns, strict=True)),
        key=lambda r: r["symbol"],
    )


def _event(
    session: date, symbol: str, rule: str, action: str, value: float | None, limit: float | None, message: str
) -> RiskEvent:
    clean = [None if v is None or not math.isfinite(v) else float(v) for v in (value, limit)]
    return RiskEvent(
        session=session, symbol=symbol, rule=rule, action=action, value=clean[0], limit=clean[1], message=message
    )  # type: ignore[arg-type]


def _candidate(
    session: date, book: BookState, row: dict, limits: RiskLimits, events: list[RiskEvent]
) -> _Candidate | None:
    """A BUY sized by risk and clipped by the per-order limits, or None (with its rejection event)."""
    symbol = row["symbol"]

    def note(rule: str, action: str, value: float | None, limit: float | None, message: str) -> None:
        events.append(_event(session, symbol, rule, action, value, limit, message))

    confidence, close, atr = _num(row["confidence"]), _num(row["close"]), _num(row["atr14"])
    if not confidence >= limits.min_confidence:
        note("min_confidence", "rejected", confidence, limits.min_confidence, f"confidence {confidence} too low")
        return None
    if not (math.isfinite(close) and close > 0):
        note("no_reference_price", "rejected", close, None, f"no usable close ({close}) to size against")
        return None
    if not (math.isfinite(atr) and atr > 0):
        note("atr_missing", "rejected", atr, None, f"ATR14 {atr} is missing or non-positive: no stop distance")
        return None
    stop_distance = limits.atr_stop_multiple * atr
    if stop_distance >= close:
        note("invalid_stop", "rejected", stop_distance, close, f"stop distance {stop_distance:.4f} puts the stop ≤ 0")
        return None
    budget = book.equity * limits.risk_per_trade * confidence
    qty = math.floor(budget / stop_distance)
    if qty <= 0:
        message = f"risk budget {budget:.2f} buys no share at a stop distance of {stop_distance:.4f}"
        note("risk_per_trade", "rejected", stop_distance, budget, message)
        return None
    position_limit = limits.max_position_pct * book.equity
    if qty * close > position_limit:
        clipped = math.floor(position_limit / close)
        while clipped > 0 and clipped * close > position_limit:
            clipped -= 1
        message = (
            f"position value {qty * close:.2f} over {limits.max_position_pct:.0%} of equity: qty {qty} → {clipped}"
        )
        note("position_limit", "clipped" if clipped else "rejected", qty * close, position_limit, message)
        if clipped <= 0:
            return None
        qty = clipped
    if qty > limits.max_shares_per_order:
        message = f"qty {qty} over the per-order maximum {limits.max_shares_per_order}"
        note("max_shares_per_order", "clipped", qty, limits.max_shares_per_order, message)
        qty = limits.max_shares_per_order
    return _Candidate(symbol, qty, close, atr, stop_distance, confidence, _text(row["strategy"]), _text(row["reason"]))


def size_orders(
    book: BookState, session: date, signals: pd.DataFrame, limits: RiskLimits, costs: CostModel
) -> tuple[list[Order], list[RiskEvent]]:
    """Size ``session``'s BUY/SELL signals into orders for the next open, with an event per rejection or clip.

    The book must be marked at ``session``'s close with nothing pending: the sizing reads that equity.
    SELL exits a held position in full; BUY opens a position not yet held (no pyramiding); anything
    else is a no-op for a long-only book. Buys compete for cash and position slots in order of
    confidence (then symbol); proceeds of the day's sells are not counted as available cash.
    """
    session = as_session(session)
    if book.last_session != session:
        raise ValueError(f"book {book.book!r} is marked at {book.last_session}, not at the close of {session}")
    if book.pending:
        raise ValueError(f"book {book.book!r} still has {len(book.pending)} pending orders")

    def order(symbol: str, side: str, qty: float, **details: object) -> Order:
        held = book.positions.get(symbol)
        return Order(
            client_order_id=client_order_id(book.book, session, symbol, side),
            book=book.book,
            session=session,
            symbol=symbol,
            side=side,  # type: ignore[arg-type]
            qty=float(qty),
            equity_at_decision=book.equity,
            cash_at_decision=book.cash,
            position_qty_before=held.qty if held else 0.0,
            open_positions_before=len(book.positions),
            **details,  # type: ignore[arg-type]
        )

    events: list[RiskEvent] = []
    sells: list[Order] = []
    candidates: list[_Candidate] = []
    for row in _actionable_signals(session, signals):
        symbol, held = row["symbol"], book.positions.get(row["symbol"])
        if row["action"] == _SELL and held is not None:
            atr = _num(row["atr14"])
            details = {"confidence": _num(row["confidence"]), "strategy": _text(row["strategy"])}
            details |= {"reason": _text(row["reason"]), "atr": atr if math.isfinite(atr) else None}
            sells.append(order(symbol, "sell", held.qty, ref_price=held.last_price, stop_price=None, **details))
        elif row["action"] == _BUY and held is None:
            candidate = _candidate(session, book, row, limits, events)
            if candidate is not None:
                candidates.append(candidate)

    open_after_sells = len(book.positions) - len(sells)
    cash = book.cash - limits.cash_buffer_pct * book.equity
    buys: list[Order] = []
    for c in sorted(candidates, key=lambda c: (-c.confidence, c.symbol)):
        if open_after_sells + len(buys) >= limits.max_open_positions:
            message = f"no position slot left (confidence {c.confidence})"
            would_be = open_after_sells + len(buys) + 1
            events.append(
                _event(
                    session, c.symbol, "max_open_positions", "rejected", would_be, limits.max_open_positions, message
                )
            )
            continue
        qty, cost = c.qty, costs.buy_cost(c.qty, c.close)
        if cost > cash:
            qty = min(qty, costs.affordable_qty(cash, c.close))
            message = f"cost {cost:.2f} over the available cash {cash:.2f}: qty {c.qty} → {qty}"
            events.append(_event(session, c.symbol, "cash", "clipped" if qty else "rejected", cost, cash, message))
            if qty <= 0:
                continue
            cost = costs.buy_cost(qty, c.close)
        cash -= cost
        details = {"confidence": c.confidence, "strategy": c.strategy, "reason": c.reason, "atr": c.atr}
        buys.append(order(c.symbol, "buy", qty, ref_price=c.close, stop_price=c.close - c.stop_distance, **details))
    events.sort(key=lambda e: e.symbol or "")
    return sells + sorted(buys, key=lambda o: o.symbol), events


# ---- independent verification ------------------------------------------------------------------


def _violations(
    frame: pd.DataFrame, mask: pd.Series, rule: str, value: pd.Series, limit: pd.Series | float, message: str
) -> pd.DataFrame:
    """Rows of ``frame`` where ``mask`` holds, as violations of ``rule``; ``message`` gets ``value`` and ``limit``."""
    limit = pd.Series(limit, index=frame.index, dtype="float64") if np.isscalar(limit) else limit
    hit = mask.fillna(False).astype(bool)
    if not hit.any():
        return _empty()
    out = pd.DataFrame(
        {
            "session": frame.loc[hit, "session"],
            "symbol": frame.loc[hit, "symbol"],
            "rule": rule,
            "value": value[hit].astype("float64"),
            "limit": limit[hit].astype("float64"),
        }
    )
    out["message"] = [message.format(value=v, limit=lim) for v, lim in zip(out["value"], out["limit"], strict=True)]
    return out[VIOLATION_COLUMNS].reset_index(drop=True)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="float64" if c in ("value", "limit") else "object") for c in VIOLATION_COLUMNS}
    )


def _over(value: pd.Series, limit: pd.Series | float) -> pd.Series:
    """True where ``value`` exceeds ``limit`` beyond the relative tolerance; NaN (unverifiable) counts as a breach."""
    return ~(value <= limit + RTOL * np.abs(limit))


def _prepared(orders: pd.DataFrame) -> pd.DataFrame:
    missing = sorted(set(VERIFY_ORDER_COLUMNS) - set(orders.columns))
    if missing:
        raise ValueError(f"orders frame is missing columns {missing}")
    bad_side = sorted(set(orders["side"]) - {"buy", "sell"})
    if bad_side:
        raise ValueError(f"orders frame holds unknown sides {bad_side}")
    frame = orders.copy()
    for col in VERIFY_ORDER_COLUMNS[3:]:
        frame[col] = pd.to_numeric(frame[col], errors="raise").astype("float64")
    if "book" not in frame.columns:
        frame["book"] = ""
    return frame


def _buys(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["side"] == "buy"]


def _commission(qty: pd.Series, costs: CostModel) -> pd.Series:
    return np.maximum(costs.min_commission, costs.commission_per_share * qty)


def _check(
    rule: Callable[[pd.DataFrame, RiskLimits, CostModel], pd.DataFrame],
) -> Callable[[pd.DataFrame, RiskLimits, CostModel], pd.DataFrame]:
    """Wrap a rule on a validated, numeric orders frame into the public check (empty orders → no violations)."""

    @functools.wraps(rule)
    def verify(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel) -> pd.DataFrame:
        if len(orders) == 0:
            return _empty()
        return rule(_prepared(orders), limits, costs)

    return verify


@_check
def verify_risk_per_trade(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel) -> pd.DataFrame:
    """Buys: money at risk to the stop, qty × (ref − stop), within risk_per_trade × equity (a missing stop fails)."""
    b = _buys(orders)
    value = b["qty"] * (b["ref_price"] - b["stop_price"])
    limit = limits.risk_per_trade * b["equity_at_decision"]
    return _violations(
        b,
        _over(value, limit),
        "risk_per_trade",
        value,
        limit,
        "risk to the stop {value:,.2f} exceeds risk_per_trade × equity {limit:,.2f}",
    )


@_check
def verify_position_limit(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel) -> pd.DataFrame:
    """Buys: the resulting position, (held + qty) × ref, within max_position_pct × equity."""
    b = _buys(orders)
    value = (b["position_qty_before"] + b["qty"]) * b["ref_price"]
    limit = limits.max_position_pct * b["equity_at_decision"]
    return _violations(
        b,
        _over(value, limit),
        "position_limit",
        value,
        limit,
        "position value {value:,.2f} exceeds max_position_pct × equity {limit:,.2f}",
    )


@_check
def verify_max_shares_per_order(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel) -> pd.DataFrame:
    """Buys: qty within max_shares_per_order (exits are never blocked by size)."""
    b = _buys(orders)
    return _violations(
        b,
        _over(b["qty"], float(limits.max_shares_per_order)),
        "max_shares_per_order",
        b["qty"],
        float(limits.max_shares_per_order),
        "qty {value:,.0f} exceeds max_shares_per_order {limit:,.0f}",
    )


@_check
def verify_min_confidence(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel) -> pd.DataFrame:
    """Buys: confidence at least min_confidence (a missing confidence fails)."""
    b = _buys(orders)
    mask = ~(b["confidence"] >= limits.min_confidence)
    return _violations(
        b,
        mask,
        "min_confidence",
        b["confidence"],
        limits.min_confidence,
        "confidence {value:.3f} is below min_confidence {limit:.3f}",
    )


def _per_session(orders: pd.DataFrame) -> pd.DataFrame:
    """Per (book, session): buy and sell counts and the most conservative decision-time snapshot."""
    is_buy = orders["side"] == "buy"
    return (
        orders.assign(n_buy=is_buy.astype("int64"), n_sell=(~is_buy).astype("int64"))
        .groupby(["book", "session"], sort=True, dropna=False)
        .agg(
            n_buy=("n_buy", "sum"),
            n_sell=("n_sell", "sum"),
            open_before=("open_positions_before", "max"),
            cash=("cash_at_decision", "min"),
            equity=("equity_at_decision", "min"),
        )
        .reset_index()
    )


def _session_violations(
    sessions: pd.DataFrame, mask: pd.Series, rule: str, value: pd.Series, limit: pd.Series | float, message: str
) -> pd.DataFrame:
    return _violations(sessions.assign(symbol=None), mask, rule, value, limit, message)


@_check
def verify_max_open_positions(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel) -> pd.DataFrame:
    """Per session with buys: open positions before − sells + buys within max_open_positions."""
    s = _per_session(orders)
    value = (s["open_before"] - s["n_sell"] + s["n_buy"]).astype("float64")
    mask = (s["n_buy"] > 0) & _over(value, float(limits.max_open_positions))
    return _session_violations(
        s,
        mask,
        "max_open_positions",
        value,
        float(limits.max_open_positions),
        "{value:.0f} open positions after the session's orders exceed max_open_positions {limit:.0f}",
    )


@_check
def verify_cash(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel) -> pd.DataFrame:
    """Per session: Σ buy qty × ref × (1 + slippage) + commission within cash at decision less the cash buffer."""
    b = _buys(orders)
    if b.empty:
        return _empty()
    cost = (b["qty"] * b["ref_price"] * (1.0 + costs.slippage_bps / 10_000.0) + _commission(b["qty"], costs)).rename(
        "cost"
    )
    spent = b.assign(cost=cost).groupby(["book", "session"], sort=True, dropna=False)["cost"].sum().rename("spent")
    s = _per_session(b).merge(spent.reset_index(), on=["book", "session"], how="left", validate="one_to_one")
    limit = s["cash"] - limits.cash_buffer_pct * s["equity"]
    return _session_violations(
        s,
        _over(s["spent"], limit),
        "cash",
        s["spent"],
        limit,
        "estimated buy cost {value:,.2f} exceeds cash at decision less the buffer {limit:,.2f}",
    )


VERIFY_RULES: dict[str, Callable[[pd.DataFrame, RiskLimits, CostModel], pd.DataFrame]] = {
    "risk_per_trade": verify_risk_per_trade,
    "position_limit": verify_position_limit,
    "max_shares_per_order": verify_max_shares_per_order,
    "max_open_positions": verify_max_open_positions,
    "cash": verify_cash,
    "min_confidence": verify_min_confidence,
}


def verify_orders(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel) -> pd.DataFrame:
    """Violations of every rule, rule by rule in a stable order; columns are ``VIOLATION_COLUMNS``."""
    parts = [check(orders, limits, costs) for check in VERIFY_RULES.values()]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else _empty()
