"""The invariants of a book's journal: what its orders, fills, positions and equity must satisfy together.

The fills are the facts. Replayed from the book's initial capital in the order the simulated broker
executes a session (the sells at the open, then the buys, then the protective exits), they must give the
journaled positions and cash; the equity must be that cash plus the positions at their closes; every fill
must belong to a journaled order, agree with its status, and be a price that could have been traded: inside
its session's [low, high], at a limit order's limit or better, and after the session its order was decided.

``check_journal`` is pure (frames in, a frame of violations out, empty when the journal is sound), so the
tests, a blocking asset check and the command line share it. Bad input raises ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from trading_pipeline.domain.ledger import QTY_TOLERANCE

VIOLATION_COLUMNS = ["rule", "session", "symbol", "value", "expected", "message"]

# A cent: the replay repeats the broker's own arithmetic, so any honest difference is float rounding,
# many orders of magnitude below a cent at any book size this desk trades.
MONEY_TOLERANCE = 0.01
# Relative float rounding of prices (a fill is the open or a level times 1 ± slippage): far below one basis
# point, so a fill that slippage pushed even 1 bp past its bar or its limit is caught.
PRICE_RTOL = 1e-9
# The average cost is a ratio of running sums; the replay and the broker may round it differently.
AVG_PRICE_RTOL = 1e-9
# The strategy of the protective exits (stop, trailing stop, take-profit, time stop) that the simulator
# decides and fills on the same session's bar; every other order fills after the session it was decided.
PROTECTIVE_STRATEGY = "position_management"

# What each order status says about the order's fills: none, some but not all, or all of its quantity.
# Working orders (submitted, pending) have none: a partly filled one is marked partially_filled.
STATUS_FILLS: dict[str, str] = {
    "submitted": "none",
    "pending": "none",
    "cancelled": "none",
    "rejected": "none",
    "partially_filled": "some",
    "filled": "all",
    "replaced": "none",  # a broker-held exit moved: its replacement carries the fills
    "not_sent": "none",
}

_SIDES = frozenset({"buy", "sell"})
# Per input: its text and date columns, numbers, numbers that may be missing (a market order has no limit; a
# bar without its low is no bar, which the checks report), and the key that must be unique.
_COLUMNS: dict[str, tuple[list[str], list[str], list[str], list[str]]] = {
    "orders": (
        ["client_order_id", "session", "symbol", "side", "order_type", "strategy", "status"],
        ["qty"],
        ["limit_price"],
        ["client_order_id"],
    ),
    "fills": (
        ["fill_id", "client_order_id", "session", "symbol", "side"],
        ["qty", "price", "commission"],
        [],
        ["fill_id"],
    ),
    "positions": (["session", "symbol"], ["qty", "avg_price", "close"], [], ["session", "symbol"]),
    "equity": (["session"], ["cash", "equity"], [], ["session"]),
    "bars": (["date", "symbol"], [], ["low", "high"], ["date", "symbol"]),
}


def check_journal(
    orders: pd.DataFrame,
    fills: pd.DataFrame,
    positions: pd.DataFrame,
    equity: pd.DataFrame,
    bars: pd.DataFrame,
    initial_capital: float,
) -> pd.DataFrame:
    """Every violation of the journal invariants by one book's journal, read from its first session.

    ``orders``, ``fills``, ``positions`` and ``equity`` are the journal tables' frames (``session`` a date);
    ``bars`` holds the daily bars the fills traded on (``date``, ``symbol``, ``low``, ``high``). Returns
    VIOLATION_COLUMNS sorted by session, rule and symbol: ``value`` is what the journal holds, ``expected``
    what the invariant requires (NaN where there is no single number).
    """
    if not isinstance(initial_capital, int | float) or not math.isfinite(initial_capital) or initial_capital <= 0:
        raise ValueError(f"initial_capital must be a positive number, got {initial_capital!r}")
    orders, fills, positions, equity = (
        _table(frame, label)
        for frame, label in ((orders, "orders"), (fills, "fills"), (positions, "positions"), (equity, "equity"))
    )
    bars = _table(bars, "bars").rename(columns={"date": "session"})
    _check_values(orders, fills)
    traded = _in_execution_order(fills, orders)
    sessions = pd.DatetimeIndex(
        np.unique(np.concatenate([frame["session"].to_numpy() for frame in (equity, positions, fills)]))
    )
    replayed_positions, replayed_cash, replay_violations = _replay(traded, sessions, float(initial_capital))
    found = [
        _order_violations(traded),
        _status_violations(orders, traded),
        _bar_violations(traded, bars),
        _limit_violations(traded),
        replay_violations,
        _position_violations(positions, replayed_positions),
        _cash_violations(equity, replayed_cash),
        _equity_violations(equity, positions),
    ]
    out = pd.concat(found, ignore_index=True)
    return out.sort_values(["session", "rule", "symbol"], kind="stable", ignore_index=True)


def _table(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """The columns of ``frame`` that the checks read, typed (dates datetime64[ns], text str, numbers float64),
    after refusing a missing value where one is not allowed and a repeated key."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{label} must be a pandas DataFrame, got {type(frame).__name__}")
    text, numbers, nullable, key = _COLUMNS[label]
    columns = [*text, *numbers, *nullable]
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{label}: missing columns {missing}")
    out = pd.DataFrame(index=range(len(frame)))
    for column in columns:
        values = frame[column].reset_index(drop=True)
        if column not in nullable and values.isna().any():
            raise ValueError(f"{label}: column {column!r} has {int(values.isna().sum())} missing value(s)")
        if column in ("session", "date"):
            try:
                out[column] = pd.to_datetime(values, format="ISO8601").astype("datetime64[ns]")
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{label}: column {column!r} must hold dates: {exc}") from exc
            if (out[column] != out[column].dt.normalize()).any():
                raise ValueError(f"{label}: column {column!r} has a time of day; expected session dates")
        elif column in text:
            out[column] = values.astype(str)
        else:
            try:
                out[column] = pd.to_numeric(values).astype("float64")
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{label}: column {column!r} must be numeric: {exc}") from exc
            if np.isinf(out[column]).any():
                raise ValueError(f"{label}: column {column!r} has infinite values")
    repeated = out[out.duplicated(key, keep=False)]
    if len(repeated):
        shown = repeated[key].drop_duplicates().head(5).astype(str).agg(" ".join, axis=1).tolist()
        raise ValueError(f"{label}: {key} must be unique, repeated: {shown}")
    return out


def _check_values(orders: pd.DataFrame, fills: pd.DataFrame) -> None:
    for frame, label in ((orders, "orders"), (fills, "fills")):
        bad_sides = sorted(set(frame["side"]) - _SIDES)
        if bad_sides:
            raise ValueError(f"{label}: unknown sides {bad_sides}; allowed: {sorted(_SIDES)}")
        if (frame["qty"] <= 0).any():
            raise ValueError(f"{label}: qty must be positive; {int((frame['qty'] <= 0).sum())} row(s) are not")
    bad_statuses = sorted(set(orders["status"]) - set(STATUS_FILLS))
    if bad_statuses:
        raise ValueError(f"orders: unknown statuses {bad_statuses}; allowed: {sorted(STATUS_FILLS)}")
    if (fills["price"] <= 0).any():
        raise ValueError(f"fills: price must be positive; {int((fills['price'] <= 0).sum())} row(s) are not")


def _in_execution_order(fills: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """The fills with their order's columns (``order_`` before those a fill has too; NaN when the order is not
    journaled), sorted as the simulator executes a session: the sells at the open, then the buys, then the
    protective exits."""
    own = orders.rename(columns={c: f"order_{c}" for c in ("session", "symbol", "side", "qty")})
    traded = fills.merge(own, on="client_order_id", how="left", validate="many_to_one")
    traded["exit"] = traded["strategy"].eq(PROTECTIVE_STRATEGY)
    traded["phase"] = np.where(traded["exit"], 2, np.where(traded["side"] == "sell", 0, 1))
    return traded.sort_values(["session", "phase", "symbol", "client_order_id"], kind="stable", ignore_index=True)


def _violations(rule: str, rows: pd.DataFrame, value: object, expected: object, message: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rule": np.full(len(rows), rule, dtype=object),
            "session": rows["session"].to_numpy(dtype="datetime64[ns]"),
            "symbol": rows["symbol"].to_numpy(dtype=object),
            "value": np.asarray(value, dtype="float64"),
            "expected": np.asarray(expected, dtype="float64"),
            "message": np.asarray(list(message), dtype=object),
        },
        columns=VIOLATION_COLUMNS,
    )


def _order_violations(traded: pd.DataFrame) -> pd.DataFrame:
    """Fills without a journaled order, fills that disagree with their order, fills before their decision."""
    orphan = traded[traded["order_session"].isna()]
    matched = traded[traded["order_session"].notna()]
    mismatch = matched[(matched["symbol"] != matched["order_symbol"]) | (matched["side"] != matched["order_side"])]
    # Calendar days from the decision to the fill: a protective exit needs 0 or more, any other order 1 or more.
    days = (matched["session"] - matched["order_session"]).dt.days
    least = pd.Series(np.where(matched["exit"], 0, 1), index=matched.index)
    early = matched[days < least]
    return pd.concat(
        [
            _violations(
                "fill_without_order",
                orphan,
                orphan["qty"],
                np.nan,
                [f"fill {r.fill_id}: order {r.client_order_id} is not journaled" for r in orphan.itertuples()],
            ),
            _violations(
                "fill_order_mismatch",
                mismatch,
                mismatch["qty"],
                np.nan,
                [
                    f"fill {r.fill_id} is a {r.side} of {r.symbol}, its order {r.client_order_id} "
                    f"a {r.order_side} of {r.order_symbol}"
                    for r in mismatch.itertuples()
                ],
            ),
            _violations(
                "look_ahead",
                early,
                days[early.index],
                least[early.index],
                [
                    f"fill {r.fill_id} on {r.session:%Y-%m-%d} of order {r.client_order_id} decided on "
                    f"{r.order_session:%Y-%m-%d}" + ("" if r.exit else ": only a later session can fill it")
                    for r in early.itertuples()
                ],
            ),
        ],
        ignore_index=True,
    )


def _status_violations(orders: pd.DataFrame, traded: pd.DataFrame) -> pd.DataFrame:
    """Orders filled beyond their quantity, and orders whose status says otherwise than their fills."""
    filled = orders["client_order_id"].map(traded.groupby("client_order_id")["qty"].sum()).fillna(0.0)
    overfilled = filled > orders["qty"] + QTY_TOLERANCE
    over = orders[overfilled]
    kind = orders["status"].map(STATUS_FILLS)
    some, complete = filled > QTY_TOLERANCE, filled >= orders["qty"] - QTY_TOLERANCE
    # An overfilled order is reported once, by its own rule, whatever its status.
    wrong = ~overfilled & (
        ((kind == "none") & some) | ((kind == "some") & (~some | complete)) | ((kind == "all") & ~complete)
    )
    bad = orders[wrong]
    needed = {"none": "no fills", "some": "fills of more than 0 and less than its qty", "all": "fills of its qty"}
    return pd.concat(
        [
            _violations(
                "overfilled",
                over,
                filled[over.index],
                over["qty"],
                [f"order {r.client_order_id} of {r.qty:g} has fills of {filled[r.Index]:g}" for r in over.itertuples()],
            ),
            _violations(
                "order_status",
                bad,
                filled[bad.index],
                np.where(kind[bad.index] == "none", 0.0, bad["qty"]),
                [
                    f"order {r.client_order_id} of {r.qty:g} is {r.status} with fills of {filled[r.Index]:g}; "
                    f"{r.status} needs {needed[STATUS_FILLS[r.status]]}"
                    for r in bad.itertuples()
                ],
            ),
        ],
        ignore_index=True,
    )


def _bar_violations(traded: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """Fills on a session without a bar of their symbol, and fills outside their bar's [low, high]."""
    priced = traded.merge(bars, on=["session", "symbol"], how="left", validate="many_to_one")
    no_bar = priced[priced["low"].isna() | priced["high"].isna()]
    below = priced["price"] < priced["low"] * (1.0 - PRICE_RTOL)
    above = priced["price"] > priced["high"] * (1.0 + PRICE_RTOL)
    outside = priced[below | above]
    return pd.concat(
        [
            _violations(
                "fill_without_bar",
                no_bar,
                no_bar["price"],
                np.nan,
                [f"fill {r.fill_id}: no {r.symbol} bar on {r.session:%Y-%m-%d}" for r in no_bar.itertuples()],
            ),
            _violations(
                "fill_outside_bar",
                outside,
                outside["price"],
                np.where(below[outside.index], outside["low"], outside["high"]),
                [
                    f"fill {r.fill_id}: {r.side} at {r.price:.6g} outside the bar [{r.low:.6g}, {r.high:.6g}]"
                    for r in outside.itertuples()
                ],
            ),
        ],
        ignore_index=True,
    )


def _limit_violations(traded: pd.DataFrame) -> pd.DataFrame:
    """Fills of limit orders worse than their limit, or whose limit is not journaled (so cannot be checked)."""
    limits = traded[traded["order_type"].eq("limit")]
    unknown = limits[limits["limit_price"].isna()]
    limit = limits["limit_price"]
    worse = limits[
        ((limits["side"] == "sell") & (limits["price"] < limit * (1.0 - PRICE_RTOL)))
        | ((limits["side"] == "buy") & (limits["price"] > limit * (1.0 + PRICE_RTOL)))
    ]
    return pd.concat(
        [
            _violations(
                "limit_price_missing",
                unknown,
                unknown["price"],
                np.nan,
                [
                    f"fill {r.fill_id}: limit order {r.client_order_id} has no limit_price to check the fill against"
                    for r in unknown.itertuples()
                ],
            ),
            _violations(
                "limit_not_respected",
                worse,
                worse["price"],
                worse["limit_price"],
                [
                    f"fill {r.fill_id}: {r.side} at {r.price:.6g}, worse than its limit {r.limit_price:.6g}"
                    for r in worse.itertuples()
                ],
            ),
        ],
        ignore_index=True,
    )


def _replay(
    traded: pd.DataFrame, sessions: pd.DatetimeIndex, initial_capital: float
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """The positions (session, symbol, qty, avg_price) and the cash at each session's end that the fills imply,
    and the violations only the order of the fills shows: sells of more than was held at that moment, and
    cash below zero after some fill (reported once per session, at its lowest).

    A buy into a holding averages its price in; a sell leaves the average (fill prices, commissions
    excluded, as the book keeps it). Holdings are netted as the fills say, even below zero.
    """
    cash = initial_capital
    held: dict[str, tuple[float, float]] = {}
    rows: list[tuple[pd.Timestamp, str, float, float]] = []
    cash_by_session: list[float] = []
    oversold: dict[int, float] = {}  # fill row -> qty held before it
    overdrawn: dict[int, float] = {}  # fill row -> the session's lowest cash, reached after it
    # Plain lists: a backtest has tens of thousands of fills, and pandas' per-row access costs seconds.
    symbols, sells = traded["symbol"].tolist(), (traded["side"] == "sell").tolist()
    quantities, prices, commissions = (traded[c].tolist() for c in ("qty", "price", "commission"))
    ends = np.searchsorted(traded["session"].to_numpy(), sessions.to_numpy(), side="right")
    first = 0
    for session, end in zip(sessions, ends.tolist(), strict=True):
        lowest: tuple[int, float] | None = None
        for row in range(first, end):
            symbol, amount, price = symbols[row], quantities[row], prices[row]
            qty, avg = held.pop(symbol, (0.0, math.nan))
            if sells[row]:
                if amount > qty + QTY_TOLERANCE:
                    oversold[row] = qty
                cash += amount * price - commissions[row]
                qty -= amount
            else:
                cash -= amount * price + commissions[row]
                avg = price if qty <= QTY_TOLERANCE else (qty * avg + amount * price) / (qty + amount)
                qty += amount
            if abs(qty) > QTY_TOLERANCE:
                held[symbol] = (qty, avg)
            if cash < -MONEY_TOLERANCE and (lowest is None or cash < lowest[1]):
                lowest = (row, cash)
        first = end
        if lowest is not None:
            overdrawn[lowest[0]] = lowest[1]
        cash_by_session.append(cash)
        rows.extend((session, symbol, qty, avg) for symbol, (qty, avg) in held.items())
    positions = pd.DataFrame(rows, columns=["session", "symbol", "qty", "avg_price"])
    cash_series = pd.Series(cash_by_session, index=sessions, dtype="float64")
    return positions, cash_series, _sequence_violations(traded, oversold, overdrawn)


def _sequence_violations(traded: pd.DataFrame, oversold: dict[int, float], overdrawn: dict[int, float]) -> pd.DataFrame:
    sells = traded.loc[list(oversold)]
    lows = traded.loc[list(overdrawn)]
    return pd.concat(
        [
            _violations(
                "sell_exceeds_holding",
                sells,
                sells["qty"],
                list(oversold.values()),
                [
                    f"fill {r.fill_id}: sell of {r.qty:g} {r.symbol} when {oversold[r.Index]:g} were held"
                    for r in sells.itertuples()
                ],
            ),
            _violations(
                "negative_cash",
                lows,
                list(overdrawn.values()),
                0.0,
                [
                    f"cash {overdrawn[r.Index]:,.2f} after fill {r.fill_id} ({r.side} {r.qty:g} {r.symbol} "
                    f"at {r.price:.6g})"
                    for r in lows.itertuples()
                ],
            ),
        ],
        ignore_index=True,
    )


def _position_violations(journaled: pd.DataFrame, replayed: pd.DataFrame) -> pd.DataFrame:
    """Journaled positions whose qty differs from the replay's, or whose avg_price does at the same qty."""
    both = journaled[["session", "symbol", "qty", "avg_price"]].merge(
        replayed, on=["session", "symbol"], how="outer", suffixes=("", "_replayed")
    )
    both[["qty", "qty_replayed"]] = both[["qty", "qty_replayed"]].fillna(0.0)
    wrong_qty = (both["qty"] - both["qty_replayed"]).abs() > QTY_TOLERANCE
    wrong_avg = ~wrong_qty & (
        (both["avg_price"] - both["avg_price_replayed"]).abs() > AVG_PRICE_RTOL * both["avg_price_replayed"].abs()
    )
    qty, avg = both[wrong_qty], both[wrong_avg]
    return pd.concat(
        [
            _violations(
                "position_qty",
                qty,
                qty["qty"],
                qty["qty_replayed"],
                [
                    f"{r.symbol} holds {r.qty:g} at the end of {r.session:%Y-%m-%d}; its fills make {r.qty_replayed:g}"
                    for r in qty.itertuples()
                ],
            ),
            _violations(
                "position_avg_price",
                avg,
                avg["avg_price"],
                avg["avg_price_replayed"],
                [
                    f"{r.symbol} average price {r.avg_price:.6g} at the end of {r.session:%Y-%m-%d}; its fills make "
                    f"{r.avg_price_replayed:.6g}"
                    for r in avg.itertuples()
                ],
            ),
        ],
        ignore_index=True,
    )


def _cash_violations(equity: pd.DataFrame, replayed: pd.Series) -> pd.DataFrame:
    """Sessions without an equity row, and journaled cash other than the initial capital plus the fills' flows."""
    both = replayed.rename("replayed").rename_axis("session").reset_index()
    both = both.merge(equity[["session", "cash"]], on="session", how="left").assign(symbol=None)
    missing = both[both["cash"].isna()]
    wrong = both[(both["cash"] - both["replayed"]).abs() > MONEY_TOLERANCE]
    return pd.concat(
        [
            _violations(
                "equity_missing",
                missing,
                np.nan,
                missing["replayed"],
                [f"no equity row for {r.session:%Y-%m-%d}, a session of the book" for r in missing.itertuples()],
            ),
            _violations(
                "cash_mismatch",
                wrong,
                wrong["cash"],
                wrong["replayed"],
                [
                    f"cash {r.cash:,.2f} at the end of {r.session:%Y-%m-%d}; the capital and the fills make "
                    f"{r.replayed:,.2f}"
                    for r in wrong.itertuples()
                ],
            ),
        ],
        ignore_index=True,
    )


def _equity_violations(equity: pd.DataFrame, positions: pd.DataFrame) -> pd.DataFrame:
    """Equity rows other than their cash plus the journaled positions at their closes."""
    marked = (positions["qty"] * positions["close"]).groupby(positions["session"]).sum()
    expected = equity["cash"] + equity["session"].map(marked).fillna(0.0)
    wrong = equity[(equity["equity"] - expected).abs() > MONEY_TOLERANCE].assign(symbol=None)
    return _violations(
        "equity_mismatch",
        wrong,
        wrong["equity"],
        expected[wrong.index],
        [
            f"equity {r.equity:,.2f} at the end of {r.session:%Y-%m-%d}; cash plus the positions at their closes "
            f"make {expected[r.Index]:,.2f}"
            for r in wrong.itertuples()
        ],
    )
