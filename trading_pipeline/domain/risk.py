"""The risk engine: turns one session's signals into sized orders, and re-checks final orders independently.

``size_orders`` applies the limits while sizing. ``verify_orders`` re-derives every limit from the
decision-time snapshot carried on each order, vectorized over many sessions, without calling the
sizer — so a bug in the sizer cannot hide behind the same bug in the check that guards it.

``update_risk_state`` keeps the circuit breaker (drawdown from peak, losing streak) at each close;
while it is tripped, and on a day past the daily loss limit, only risk-reducing orders (sells) pass.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from trading_pipeline.domain.book import BookState, Order, RiskEvent, as_session, check_trade_frame, client_order_id
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.schema import Action
from trading_pipeline.domain.sectors import load_sector_map, sector_of

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
    "sector_value_before",
    "day_start_equity",
    "risk_peak_at_decision",
    "losing_streak_before",
    "breaker_tripped",
    "sector",
]
_NUMERIC_VERIFY_COLUMNS = VERIFY_ORDER_COLUMNS[3:-1]
_BUY, _SELL, _HOLD = Action.BUY.value, Action.SELL.value, Action.HOLD.value
# Relative tolerance of the verification: absorbs float re-association, never a whole share.
RTOL = 1e-9


class RiskLimits(BaseModel):
    """Per-book risk limits; fractions are of equity at decision time (DESIGN section 6).

    Circuit breaker: trips when the drawdown from its peak exceeds ``max_drawdown`` or after
    ``max_losing_streak`` consecutive losing round trips. A drawdown trip resumes once the drawdown is
    back within ``resume_drawdown`` or, if set, after ``drawdown_cooloff_sessions`` closes (the peak is
    then rebased to the equity at the resume); a losing-streak trip resumes at the next winning round
    trip or after ``streak_cooloff_sessions`` closes (the streak so far is then acknowledged).
    ``reset_breaker`` is the manual reset. Exits: a fixed ATR stop, a trailing stop (``atr``: k × ATR
    at entry below the high-water mark; ``percent``: a fraction below it), the signal's take-profit
    target (or ``take_profit_atr_multiple`` × ATR above the close) and a time stop.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    risk_per_trade: float = Field(default=0.02, gt=0.0, le=1.0)
    atr_stop_multiple: float = Field(default=1.5, gt=0.0, le=20.0)
    max_position_pct: float = Field(default=0.20, gt=0.0, le=1.0)
    max_sector_pct: float = Field(default=0.30, gt=0.0, le=1.0)
    max_open_positions: int = Field(default=10, ge=1)
    max_shares_per_order: int = Field(default=10_000, ge=1)
    min_confidence: float = Field(default=0.3, ge=0.0, le=1.0)
    cash_buffer_pct: float = Field(default=0.0, ge=0.0, lt=1.0)
    max_daily_loss: float = Field(default=0.05, gt=0.0, le=1.0)
    max_drawdown: float = Field(default=0.20, gt=0.0, lt=1.0)
    resume_drawdown: float = Field(default=0.15, gt=0.0, lt=1.0)
    drawdown_cooloff_sessions: int | None = Field(default=None, ge=1)
    max_losing_streak: int = Field(default=10, ge=1)
    streak_cooloff_sessions: int = Field(default=5, ge=1)
    trailing_stop: Literal["none", "atr", "percent"] = "atr"
    trailing_atr_multiple: float = Field(default=3.0, gt=0.0, le=50.0)
    trailing_pct: float = Field(default=0.10, gt=0.0, lt=1.0)
    take_profit_atr_multiple: float | None = Field(default=None, gt=0.0)
    max_holding_sessions: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _resume_below_trip(self) -> RiskLimits:
        if self.resume_drawdown >= self.max_drawdown:
            raise ValueError(
                f"resume_drawdown {self.resume_drawdown} must be below max_drawdown {self.max_drawdown}, "
                "or the breaker would resume as soon as it trips"
            )
        return self


@dataclass(slots=True)
class _Candidate:
    symbol: str
    qty: int
    close: float
    atr: float
    stop_distance: float
    target: float | None
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


@dataclass(frozen=True, slots=True)
class SessionSignals:
    """One session's validated BUY/SELL rows (HOLD dropped), sorted by symbol: what ``size_orders`` sizes."""

    session: date
    rows: tuple[dict, ...]


def prepare_signals(signals: pd.DataFrame) -> dict[date, SessionSignals]:
    """Validate many sessions' signals (``date`` column) in one vectorized pass and split them by session.

    Done once before the session loop, so no per-session pandas work is left in the hot path.
    """
    missing = sorted({*SIZING_SIGNAL_COLUMNS, "date"} - set(signals.columns))
    if missing:
        raise ValueError(f"signals are missing columns {missing}")
    unknown = set(signals["action"].unique()) - {a.value for a in Action}
    if unknown:
        raise ValueError(f"signals hold unknown actions {sorted(map(str, unknown))}")
    rows = signals.loc[signals["action"] != _HOLD, ["date", *SIZING_SIGNAL_COLUMNS]]
    confidence = pd.to_numeric(rows["confidence"], errors="raise")
    out_of_range = (confidence < 0) | (confidence > 1)
    if out_of_range.any():
        raise ValueError(f"signals hold confidences outside [0, 1]: {sorted(rows.loc[out_of_range, 'symbol'])}")
    days = pd.to_datetime(rows["date"])
    duplicated = rows[pd.DataFrame({"d": days, "s": rows["symbol"]}).duplicated()]
    if len(duplicated):
        pairs = sorted(zip(pd.to_datetime(duplicated["date"]).dt.date, duplicated["symbol"], strict=True))
        raise ValueError(f"signals hold more than one BUY/SELL row for {pairs[:5]}")
    order = np.lexsort((rows["symbol"].to_numpy(dtype=str), days.to_numpy()))
    rows, days = rows.iloc[order], days.iloc[order]
    columns = [rows[c].tolist() for c in SIZING_SIGNAL_COLUMNS]  # column-wise: far cheaper than to_dict("records")
    by_session: dict[date, list[dict]] = {}
    for day, values in zip(days.dt.date.tolist(), zip(*columns, strict=True), strict=True):
        by_session.setdefault(day, []).append(dict(zip(SIZING_SIGNAL_COLUMNS, values, strict=True)))
    return {day: SessionSignals(day, tuple(day_rows)) for day, day_rows in by_session.items()}


def _actionable_signals(session: date, signals: pd.DataFrame | SessionSignals) -> tuple[dict, ...]:
    """The session's validated BUY/SELL rows; a frame is validated here (it may omit ``date``)."""
    if isinstance(signals, SessionSignals):
        if signals.session != session:
            raise ValueError(f"signals prepared for {signals.session} passed for {session}")
        return signals.rows
    if "date" in signals.columns and len(signals):
        dates = {as_session(pd.Timestamp(d).to_pydatetime()) for d in signals["date"].unique()}
        if dates != {session}:
            raise ValueError(f"signals passed for {session} hold other dates: {sorted(dates)}")
    try:
        prepared = prepare_signals(signals.assign(date=pd.Timestamp(session)))
    except ValueError as exc:
        raise ValueError(f"signals for {session}: {exc}") from exc
    return prepared[session].rows if session in prepared else ()


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
    target = _num(row["target"])
    if not (math.isfinite(target) and target > close):
        target = close + limits.take_profit_atr_multiple * atr if limits.take_profit_atr_multiple else None
    return _Candidate(
        symbol, qty, close, atr, stop_distance, target, confidence, _text(row["strategy"]), _text(row["reason"])
    )


def _new_risk_block(book: BookState, limits: RiskLimits) -> tuple[str, float, float, str] | None:
    """Why no new risk may be taken at this close (rule, value, limit, message), or None."""
    if book.breaker == "drawdown":
        dd = book.equity / book.breaker_peak - 1.0
        return "circuit_breaker", dd, -limits.max_drawdown, f"circuit breaker tripped on drawdown ({dd:.1%})"
    if book.breaker == "losing_streak":
        streak = float(book.losing_streak - book.streak_floor)
        message = f"circuit breaker tripped on {streak:.0f} consecutive losing round trips"
        return "circuit_breaker", streak, float(limits.max_losing_streak), message
    if book.day_start_equity is not None and book.day_start_equity > 0:
        day = book.equity / book.day_start_equity - 1.0
        if day < -limits.max_daily_loss:
            return "daily_loss_limit", day, -limits.max_daily_loss, f"the day lost {day:.2%}: no new risk today"
    return None


# ---- circuit breaker state ---------------------------------------------------------------------

_BREAKER_FIELDS = ("breaker", "breaker_since", "breaker_sessions", "risk_peak", "streak_floor")


def with_risk_state(book: BookState, source: BookState) -> BookState:
    """``book`` carrying ``source``'s circuit breaker state (the fields ``update_risk_state`` owns)."""
    return replace(book, **{f: getattr(source, f) for f in _BREAKER_FIELDS})


def _state_event(session: date, message: str, value: float | None, limit: float | None) -> RiskEvent:
    return _event(session, None, "circuit_breaker", "info", value, limit, message)  # type: ignore[arg-type]


def update_risk_state(book: BookState, session: date, limits: RiskLimits) -> tuple[BookState, list[RiskEvent]]:
    """The circuit breaker after ``session``'s close: trip, stay, or resume by the rules of ``RiskLimits``."""
    session = as_session(session)
    peak = max(book.breaker_peak, book.equity)
    floor = book.streak_floor if book.losing_streak >= book.streak_floor else 0  # a win reset the streak
    breaker, since, held = book.breaker, book.breaker_since, book.breaker_sessions
    events: list[RiskEvent] = []

    def drawdown() -> float:
        return book.equity / peak - 1.0

    if breaker is not None:
        held += 1
        if breaker == "drawdown" and drawdown() >= -limits.resume_drawdown:
            message = f"resumed: drawdown back to {drawdown():.1%}, within {limits.resume_drawdown:.0%}"
            events.append(_state_event(session, message, drawdown(), -limits.resume_drawdown))
            breaker = None
        elif breaker == "drawdown" and limits.drawdown_cooloff_sessions and held >= limits.drawdown_cooloff_sessions:
            message = f"resumed after a {held}-session cool-off at drawdown {drawdown():.1%}; peak rebased to equity"
            events.append(_state_event(session, message, drawdown(), -limits.max_drawdown))
            breaker, peak = None, book.equity
        elif breaker == "losing_streak" and book.losing_streak - floor < limits.max_losing_streak:
            message = "resumed: a winning round trip ended the losing streak"
            events.append(_state_event(session, message, float(book.losing_streak - floor), limits.max_losing_streak))
            breaker = None
        elif breaker == "losing_streak" and held >= limits.streak_cooloff_sessions:
            streak = book.losing_streak - floor
            message = f"resumed after a {held}-session cool-off; the streak of {streak} is acknowledged"
            events.append(_state_event(session, message, float(book.losing_streak - floor), limits.max_losing_streak))
            breaker, floor = None, book.losing_streak
    if breaker is None:
        since, held = None, 0
        streak = book.losing_streak - floor
        if drawdown() < -limits.max_drawdown:
            breaker = "drawdown"
            message = f"tripped: drawdown {drawdown():.1%} from the peak {peak:,.2f} exceeds {limits.max_drawdown:.0%}"
            events.append(_state_event(session, message, drawdown(), -limits.max_drawdown))
        elif streak >= limits.max_losing_streak:
            breaker = "losing_streak"
            message = f"tripped: {streak} consecutive losing round trips (limit {limits.max_losing_streak})"
            events.append(_state_event(session, message, float(streak), float(limits.max_losing_streak)))
        since = session if breaker is not None else None
    new = replace(book, breaker=breaker, breaker_since=since, breaker_sessions=held, risk_peak=peak, streak_floor=floor)
    return new, events


def reset_breaker(book: BookState, session: date, operator: str, reason: str) -> tuple[BookState, RiskEvent]:
    """Manual reset: the breaker clears, its peak is rebased to the current equity and the streak is acknowledged."""
    if not operator.strip() or not reason.strip():
        raise ValueError("a manual breaker reset needs an operator and a reason")
    was = book.breaker or "not tripped"
    new = replace(
        book,
        breaker=None,
        breaker_since=None,
        breaker_sessions=0,
        risk_peak=book.equity,
        streak_floor=book.losing_streak,
    )
    message = f"manual reset by {operator} (was {was}): {reason}"
    return new, _state_event(as_session(session), message, book.equity / book.breaker_peak - 1.0, None)


def size_orders(
    book: BookState,
    session: date,
    signals: pd.DataFrame | SessionSignals,
    limits: RiskLimits,
    costs: CostModel,
    sectors: Mapping[str, str] | None = None,
) -> tuple[list[Order], list[RiskEvent]]:
    """Size ``session``'s BUY/SELL signals into orders for the next open, with an event per rejection or clip.

    The book must be marked at ``session``'s close with nothing pending: the sizing reads that equity.
    SELL exits a held position in full; BUY opens a position not yet held (no pyramiding); anything
    else is a no-op for a long-only book. While the circuit breaker is tripped or the day is past the
    daily loss limit every BUY is rejected (sells still pass). Buys compete for cash, sector room
    (``sectors``, the bundled map by default; an unknown symbol is its own sector) and position slots
    in order of confidence (then symbol); proceeds of the day's sells are not counted as available cash.
    """
    session = as_session(session)
    if book.last_session != session:
        raise ValueError(f"book {book.book!r} is marked at {book.last_session}, not at the close of {session}")
    if book.pending:
        raise ValueError(f"book {book.book!r} still has {len(book.pending)} pending orders")

    sectors = load_sector_map() if sectors is None else sectors
    held_by_sector: dict[str, float] = {}
    for held_symbol in sorted(book.positions):
        key = sector_of(held_symbol, sectors)
        held_by_sector[key] = held_by_sector.get(key, 0.0) + book.positions[held_symbol].market_value
    snapshot = {
        # A book that has not been through an open yet (fresh, hand-built) has no loss on the day.
        "day_start_equity": book.equity if book.day_start_equity is None else book.day_start_equity,
        "risk_peak_at_decision": book.breaker_peak,
        "losing_streak_before": max(0, book.losing_streak - book.streak_floor),
        "breaker_tripped": book.breaker is not None,
    }

    def order(symbol: str, side: str, qty: float, **details: object) -> Order:
        held = book.positions.get(symbol)
        sector = sector_of(symbol, sectors)
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
            sector=sector,
            sector_value_before=held_by_sector.get(sector, 0.0),
            **snapshot,  # type: ignore[arg-type]
            **details,  # type: ignore[arg-type]
        )

    block = _new_risk_block(book, limits)
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
        elif row["action"] == _BUY and held is None and block is not None:
            rule, value, limit, message = block
            events.append(_event(session, symbol, rule, "rejected", value, limit, message))
        elif row["action"] == _BUY and held is None:
            candidate = _candidate(session, book, row, limits, events)
            if candidate is not None:
                candidates.append(candidate)

    open_after_sells = len(book.positions) - len(sells)
    cash = book.cash - limits.cash_buffer_pct * book.equity
    sector_limit = limits.max_sector_pct * book.equity
    bought_by_sector: dict[str, float] = {}
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
        qty, sector = c.qty, sector_of(c.symbol, sectors)
        in_sector = held_by_sector.get(sector, 0.0) + bought_by_sector.get(sector, 0.0)
        if in_sector + qty * c.close > sector_limit:
            room = max(0, math.floor((sector_limit - in_sector) / c.close))
            while room > 0 and in_sector + room * c.close > sector_limit:
                room -= 1
            message = (
                f"sector {sector!r} at {in_sector + qty * c.close:,.2f} would exceed "
                f"{limits.max_sector_pct:.0%} of equity: qty {qty} → {room}"
            )
            events.append(
                _event(
                    session,
                    c.symbol,
                    "sector_limit",
                    "clipped" if room else "rejected",
                    in_sector + qty * c.close,
                    sector_limit,
                    message,
                )
            )
            if room <= 0:
                continue
            qty = room
        cost, wanted = costs.buy_cost(qty, c.close), qty
        if cost > cash:
            qty = min(qty, costs.affordable_qty(cash, c.close))
            message = f"cost {cost:.2f} over the available cash {cash:.2f}: qty {wanted} → {qty}"
            events.append(_event(session, c.symbol, "cash", "clipped" if qty else "rejected", cost, cash, message))
            if qty <= 0:
                continue
            cost = costs.buy_cost(qty, c.close)
        cash -= cost
        bought_by_sector[sector] = bought_by_sector.get(sector, 0.0) + qty * c.close
        details = {"confidence": c.confidence, "strategy": c.strategy, "reason": c.reason, "atr": c.atr}
        details |= {
            "take_profit": c.target,
            "trail_distance": limits.trailing_atr_multiple * c.atr if limits.trailing_stop == "atr" else None,
            "trail_pct": limits.trailing_pct if limits.trailing_stop == "percent" else None,
            "max_holding_sessions": limits.max_holding_sessions,
        }
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
    check_trade_frame(orders, VERIFY_ORDER_COLUMNS, "orders")
    frame = orders.copy()
    for col in _NUMERIC_VERIFY_COLUMNS:
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


@_check
def verify_sector_limit(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel) -> pd.DataFrame:
    """Per session and sector: held value in the sector + Σ buy qty × ref within max_sector_pct × equity."""
    b = _buys(orders)
    if b.empty:
        return _empty()
    keys = ["book", "session", "sector"]
    s = (
        b.assign(value=b["qty"] * b["ref_price"])
        .groupby(keys, sort=True, dropna=False)
        .agg(held=("sector_value_before", "max"), bought=("value", "sum"), equity=("equity_at_decision", "min"))
        .reset_index()
    )
    value = s["held"] + s["bought"]
    limit = limits.max_sector_pct * s["equity"]
    out = _session_violations(
        s,
        _over(value, limit),
        "sector_limit",
        value,
        limit,
        "sector value {value:,.2f} after the session's buys exceeds max_sector_pct × equity {limit:,.2f}",
    )
    hit = s.loc[_over(value, limit).fillna(True).astype(bool), "sector"].tolist()
    out["message"] = [f"{sector}: {m}" for sector, m in zip(hit, out["message"], strict=True)]
    return out


@_check
def verify_daily_loss(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel) -> pd.DataFrame:
    """Buys: the day's return at decision, equity ÷ previous close's equity − 1, not below −max_daily_loss."""
    b = _buys(orders)
    value = b["equity_at_decision"] / b["day_start_equity"] - 1.0
    mask = ~(value >= -limits.max_daily_loss - RTOL)
    return _violations(
        b,
        mask,
        "daily_loss_limit",
        value,
        -limits.max_daily_loss,
        "new risk on a day that lost {value:.2%} (limit {limit:.2%}); a missing day start fails",
    )


@_check
def verify_circuit_breaker(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel) -> pd.DataFrame:
    """Buys: none while the breaker is tripped, past max_drawdown from the breaker's peak or the losing streak."""
    b = _buys(orders)
    value = b["equity_at_decision"] / b["risk_peak_at_decision"] - 1.0
    mask = (
        (b["breaker_tripped"] != 0)
        | ~(value >= -limits.max_drawdown - RTOL)
        | ~(b["losing_streak_before"] < limits.max_losing_streak)
    )
    return _violations(
        b,
        mask,
        "circuit_breaker",
        value,
        -limits.max_drawdown,
        "new risk while the circuit breaker is tripped or due (drawdown {value:.2%}, limit {limit:.2%}, "
        "or the losing streak)",
    )


VERIFY_RULES: dict[str, Callable[[pd.DataFrame, RiskLimits, CostModel], pd.DataFrame]] = {
    "risk_per_trade": verify_risk_per_trade,
    "position_limit": verify_position_limit,
    "sector_limit": verify_sector_limit,
    "max_shares_per_order": verify_max_shares_per_order,
    "max_open_positions": verify_max_open_positions,
    "cash": verify_cash,
    "min_confidence": verify_min_confidence,
    "daily_loss_limit": verify_daily_loss,
    "circuit_breaker": verify_circuit_breaker,
}


def verify_orders(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel) -> pd.DataFrame:
    """Violations of every rule, rule by rule in a stable order; columns are ``VIOLATION_COLUMNS``."""
    parts = [check(orders, limits, costs) for check in VERIFY_RULES.values()]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else _empty()
