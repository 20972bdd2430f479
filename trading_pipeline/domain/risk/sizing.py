"""Sizing: one session's validated signals become orders for the next open, each limit applied on the way.

Two passes. The candidate pass reads each signal alone: a SELL exits a held position in full, a BUY is sized by risk
(equity × risk_per_trade × confidence ÷ stop distance) and clipped by the per-order limits, or rejected (every BUY
while the book is halted, its breaker tripped, or its day or its account's day past the loss limit). The allocation
pass lets the surviving buys compete, by confidence then symbol, for the position slots, the sector room, the cash and
the account's gross exposure room (the account's other books count too). Every rejection and clip is an event with
its rule, value and limit. Each order carries a snapshot of the book and its account at decision time, from which
``verification`` re-checks every limit without this module's code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from trading_pipeline.domain.book import BookState, Order, RiskEvent, as_session, client_order_id
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.risk.accounts import DEFAULT_ACCOUNT_LIMITS, NO_OTHER_BOOKS, AccountLimits, OtherBooks
from trading_pipeline.domain.risk.breaker import new_risk_block
from trading_pipeline.domain.risk.events import risk_event
from trading_pipeline.domain.risk.halt import HALT_RULE, Halt
from trading_pipeline.domain.risk.limits import RiskLimits
from trading_pipeline.domain.schema import Action
from trading_pipeline.domain.sectors import load_sector_map, sector_of

SIZING_SIGNAL_COLUMNS = ["symbol", "strategy", "action", "confidence", "stop", "target", "reason", "close", "atr14"]
_BUY, _SELL, _HOLD = Action.BUY.value, Action.SELL.value, Action.HOLD.value


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


def _shares_within(held: float, price: float, limit: float) -> int:
    """The most whole shares at ``price`` that keep ``held + shares × price`` within ``limit`` (0 if none)."""
    shares = max(0, math.floor((limit - held) / price))
    while shares > 0 and held + shares * price > limit:
        shares -= 1
    return shares


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


def _candidate(
    session: date, state: BookState, row: dict, limits: RiskLimits, events: list[RiskEvent]
) -> _Candidate | None:
    """A BUY sized by risk and clipped by the per-order limits, or None (with its rejection event)."""
    symbol = row["symbol"]

    def note(rule: str, action: str, value: float | None, limit: float | None, message: str) -> None:
        events.append(risk_event(session, symbol, rule, action, value, limit, message))

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
    budget = state.equity * limits.risk_per_trade * confidence
    qty = math.floor(budget / stop_distance)
    if qty <= 0:
        message = f"risk budget {budget:.2f} buys no share at a stop distance of {stop_distance:.4f}"
        note("risk_per_trade", "rejected", stop_distance, budget, message)
        return None
    position_limit = limits.max_position_pct * state.equity
    if qty * close > position_limit:
        clipped = _shares_within(0.0, close, position_limit)
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


class _OrderFactory:
    """Orders of one session, each with the snapshot of the book and its account at decision time that verification
    reads; it also knows what blocks or bounds the session's entries from outside the book (a halt, the account)."""

    def __init__(
        self,
        state: BookState,
        session: date,
        sectors: Mapping[str, str],
        halt: Halt | None,
        account: AccountLimits,
        others: OtherBooks,
    ) -> None:
        self.state, self.session, self.sectors = state, session, sectors
        self.halt, self.account = halt, account
        self.held_by_sector: dict[str, float] = {}
        for symbol in sorted(state.positions):
            key = sector_of(symbol, sectors)
            self.held_by_sector[key] = self.held_by_sector.get(key, 0.0) + state.positions[symbol].market_value
        # A book that has not been through an open yet (fresh, hand-built) has no loss on the day.
        day_start = state.equity if state.day_start_equity is None else state.day_start_equity
        self.account_exposure = others.exposure + sum(state.positions[s].market_value for s in sorted(state.positions))
        self.account_equity = others.equity + state.equity
        self.account_day_start = others.day_start_equity + day_start
        self.snapshot = {
            "day_start_equity": day_start,
            "risk_peak_at_decision": state.breaker_peak,
            "losing_streak_before": max(0, state.losing_streak - state.streak_floor),
            "breaker_tripped": state.breaker is not None,
            "halted": halt is not None,
            "account_exposure_before": self.account_exposure,
            "account_equity": self.account_equity,
            "account_day_start_equity": self.account_day_start,
        }

    def entry_block(self, limits: RiskLimits) -> tuple[str, float | None, float | None, str] | None:
        """Why no buy may be sized at this close (rule, value, limit, message): the halt, the book's breaker or
        daily loss, then the account's daily loss; None if buys may be sized."""
        if self.halt is not None:
            return HALT_RULE, None, None, f"book {self.halt.describe()}"
        block = new_risk_block(self.state, limits)
        if block is not None or self.account.max_daily_loss is None or self.account_day_start <= 0:
            return block
        day = self.account_equity / self.account_day_start - 1.0
        if day < -self.account.max_daily_loss:
            message = f"the account's books together lost {day:.2%} today: no new risk"
            return "account_daily_loss", day, -self.account.max_daily_loss, message
        return None

    def __call__(self, symbol: str, side: str, qty: float, **details: object) -> Order:
        held = self.state.positions.get(symbol)
        sector = sector_of(symbol, self.sectors)
        return Order(
            client_order_id=client_order_id(self.state.book, self.session, symbol, side),
            book=self.state.book,
            session=self.session,
            symbol=symbol,
            side=side,  # type: ignore[arg-type]
            qty=float(qty),
            equity_at_decision=self.state.equity,
            cash_at_decision=self.state.cash,
            position_qty_before=held.qty if held else 0.0,
            open_positions_before=len(self.state.positions),
            sector=sector,
            sector_value_before=self.held_by_sector.get(sector, 0.0),
            **self.snapshot,  # type: ignore[arg-type]
            **details,  # type: ignore[arg-type]
        )


def size_orders(
    state: BookState,
    session: date,
    signals: pd.DataFrame | SessionSignals,
    limits: RiskLimits,
    costs: CostModel,
    sectors: Mapping[str, str] | None = None,
    halt: Halt | None = None,
    account: AccountLimits = DEFAULT_ACCOUNT_LIMITS,
    others: OtherBooks = NO_OTHER_BOOKS,
) -> tuple[list[Order], list[RiskEvent]]:
    """Size ``session``'s BUY/SELL signals into orders for the next open, with an event per rejection or clip.

    The book must be marked at ``session``'s close with nothing pending: the sizing reads that equity.
    SELL exits a held position in full; BUY opens a position not yet held (no pyramiding); anything
    else is a no-op for a long-only book. While the book is halted (``halt``), the circuit breaker is
    tripped, or the book's or its account's day is past its daily loss limit, every BUY is rejected (sells
    still pass). Buys compete for position slots, sector room (``sectors``, the bundled map by default; an
    unknown symbol is its own sector), cash and the room under ``account``'s gross exposure (``others``: the
    account's other books at this close) in order of confidence (then symbol); proceeds of the day's sells are
    not counted as available cash.
    """
    session = as_session(session)
    if state.last_session != session:
        raise ValueError(f"book {state.book!r} is marked at {state.last_session}, not at the close of {session}")
    if state.pending:
        raise ValueError(f"book {state.book!r} still has {len(state.pending)} pending orders")
    order = _OrderFactory(state, session, load_sector_map() if sectors is None else sectors, halt, account, others)
    events: list[RiskEvent] = []
    sells, candidates = _candidate_pass(order, _actionable_signals(session, signals), limits, events)
    buys = _allocation_pass(order, candidates, len(state.positions) - len(sells), limits, costs, events)
    events.sort(key=lambda e: e.symbol or "")
    return sells + sorted(buys, key=lambda o: o.symbol), events


def _candidate_pass(
    order: _OrderFactory, rows: tuple[dict, ...], limits: RiskLimits, events: list[RiskEvent]
) -> tuple[list[Order], list[_Candidate]]:
    """Each signal alone: the sells of held positions, and the buys that survive the per-order limits."""
    state, session = order.state, order.session
    block = order.entry_block(limits)
    sells: list[Order] = []
    candidates: list[_Candidate] = []
    for row in rows:
        symbol, held = row["symbol"], state.positions.get(row["symbol"])
        if row["action"] == _SELL and held is not None:
            atr = _num(row["atr14"])
            details = {"confidence": _num(row["confidence"]), "strategy": _text(row["strategy"])}
            details |= {"reason": _text(row["reason"]), "atr": atr if math.isfinite(atr) else None}
            sells.append(order(symbol, "sell", held.qty, ref_price=held.last_price, stop_price=None, **details))
        elif row["action"] == _BUY and held is None and block is not None:
            rule, value, limit, message = block
            events.append(risk_event(session, symbol, rule, "rejected", value, limit, message))
        elif row["action"] == _BUY and held is None:
            candidate = _candidate(session, state, row, limits, events)
            if candidate is not None:
                candidates.append(candidate)
    return sells, candidates


def _allocation_pass(
    order: _OrderFactory,
    candidates: list[_Candidate],
    open_after_sells: int,
    limits: RiskLimits,
    costs: CostModel,
    events: list[RiskEvent],
) -> list[Order]:
    """The buys competing, strongest first, for the position slots, the sector room, the cash and the account's
    gross exposure room."""
    state, session = order.state, order.session
    cash = state.cash - limits.cash_buffer_pct * state.equity
    sector_limit = limits.max_sector_pct * state.equity
    account_limit = order.account.max_gross_exposure * order.account_equity
    bought = 0.0
    bought_by_sector: dict[str, float] = {}
    buys: list[Order] = []

    def note(c: _Candidate, rule: str, kept: float, value: float, limit: float, message: str) -> None:
        events.append(risk_event(session, c.symbol, rule, "clipped" if kept else "rejected", value, limit, message))

    for c in sorted(candidates, key=lambda c: (-c.confidence, c.symbol)):
        if open_after_sells + len(buys) >= limits.max_open_positions:
            would_be = open_after_sells + len(buys) + 1
            message = f"no position slot left (confidence {c.confidence})"
            note(c, "max_open_positions", 0, would_be, limits.max_open_positions, message)
            continue
        qty, sector = c.qty, sector_of(c.symbol, order.sectors)
        in_sector = order.held_by_sector.get(sector, 0.0) + bought_by_sector.get(sector, 0.0)
        if in_sector + qty * c.close > sector_limit:
            room = _shares_within(in_sector, c.close, sector_limit)
            message = (
                f"sector {sector!r} at {in_sector + qty * c.close:,.2f} would exceed "
                f"{limits.max_sector_pct:.0%} of equity: qty {qty} → {room}"
            )
            note(c, "sector_limit", room, in_sector + qty * c.close, sector_limit, message)
            if room <= 0:
                continue
            qty = room
        cost, wanted = costs.buy_cost(qty, c.close), qty
        if cost > cash:
            qty = min(qty, costs.affordable_qty(cash, c.close))
            note(
                c, "cash", qty, cost, cash, f"cost {cost:.2f} over the available cash {cash:.2f}: qty {wanted} → {qty}"
            )
            if qty <= 0:
                continue
            cost = costs.buy_cost(qty, c.close)
        in_account = order.account_exposure + bought
        if in_account + qty * c.close > account_limit:
            kept = _shares_within(in_account, c.close, account_limit)
            message = (
                f"the account's gross exposure {in_account + qty * c.close:,.2f} would exceed "
                f"{order.account.max_gross_exposure:.0%} of its equity: qty {qty} → {kept}"
            )
            note(c, "account_gross_exposure", kept, in_account + qty * c.close, account_limit, message)
            if kept <= 0:
                continue
            qty, cost = kept, costs.buy_cost(kept, c.close)
        cash -= cost
        bought += qty * c.close
        bought_by_sector[sector] = bought_by_sector.get(sector, 0.0) + qty * c.close
        buys.append(
            order(c.symbol, "buy", qty, ref_price=c.close, stop_price=c.close - c.stop_distance, **_exits(c, limits))
        )
    return buys


def _exits(c: _Candidate, limits: RiskLimits) -> dict[str, object]:
    """What a buy carries for its position: the signal's details and the exit instructions of the limits."""
    return {
        "confidence": c.confidence,
        "strategy": c.strategy,
        "reason": c.reason,
        "atr": c.atr,
        "take_profit": c.target,
        "trail_distance": limits.trailing_atr_multiple * c.atr if limits.trailing_stop == "atr" else None,
        "trail_pct": limits.trailing_pct if limits.trailing_stop == "percent" else None,
        "max_holding_sessions": limits.max_holding_sessions,
    }
