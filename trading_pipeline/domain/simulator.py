"""The simulated broker: pending orders fill at the next session's open, protective exits trigger on the
session's bar, then the book is marked at the close.

A decision on session D is made at D's close, so its orders can only ever meet a price from D+1 or
later; ``open_session`` refuses to fill an order at or before its own decision session. Every order
that does not fill in full leaves a ``RiskEvent`` — nothing is silently dropped.

Exits respect gaps: a stop the open gapped through fills at the open (not at the stop), a stop touched
inside the bar fills at the stop, less slippage; a take-profit is a limit order: it fills at the open when
the open is already above it, else at the target, and never below the target. When one bar touches both,
the stop is assumed to have come first (the conservative reading of a daily bar).

Every fill could have happened: slippage moves a price against the order but never outside the session's
[low, high], the prices that session actually traded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Protocol

from trading_pipeline.domain.book import (
    BookState,
    Fill,
    Order,
    Position,
    RiskEvent,
    after_buy,
    as_session,
    client_order_id,
    compute_equity,
    fill_id,
)
from trading_pipeline.domain.costs import CostModel


class Quotes(Protocol):
    """One session's prices by symbol (a dict, or the engine's array-backed row); ``get`` may return NaN."""

    def get(self, symbol: str, /) -> float | None: ...


def _tradable(prices: Quotes | Mapping[str, float], symbol: str) -> float | None:
    price = prices.get(symbol)
    if price is None or not math.isfinite(price) or price <= 0:
        return None
    return float(price)


def _execution_order(order: Order) -> tuple[int, str, str]:
    """Sells first (their proceeds fund the buys), then by symbol: a stable, reproducible sequence."""
    return (0 if order.side == "sell" else 1, order.symbol, order.client_order_id)


def _event(
    session: date,
    order: Order,
    rule: str,
    action: str,
    message: str,
    value: float | None = None,
    limit: float | None = None,
) -> RiskEvent:
    """An execution event; the message leads with the order id so every cancelled order can be traced."""
    return RiskEvent(
        session=session,
        symbol=order.symbol,
        rule=rule,
        action=action,  # type: ignore[arg-type]
        value=value,
        limit=limit,
        message=f"{order.client_order_id}: {message}",
    )


def _fill(order: Order, session: date, qty: float, price: float, reference: float, costs: CostModel) -> Fill:
    return Fill(
        fill_id=fill_id(order.client_order_id),
        client_order_id=order.client_order_id,
        book=order.book,
        session=session,
        symbol=order.symbol,
        side=order.side,
        qty=qty,
        price=price,
        commission=costs.commission(qty),
        slippage=qty * abs(price - reference),
    )


def _after_close_out(streak: int, position: Position, fill: Fill) -> int:
    """The losing streak after a round trip closes: one more loss, or reset by a non-losing trip.

    The trip's P&L is ``qty × (exit − avg_price) − exit commission``; the entry commission is not in
    the position's basis, so a trip that only lost its entry commission counts as not losing.
    """
    pnl = fill.qty * (fill.price - position.avg_price) - fill.commission
    return streak + 1 if pnl < 0 else 0


def traded_price(
    costs: CostModel, side: str, price: float, low: float | None, high: float | None, limit: float | None = None
) -> float:
    """What an order reaching the market at ``price`` trades at: slippage against it, then bounded by the session's
    [low, high] (a price the session never traded is no fill) and, for a limit order, by its ``limit``: a sell
    limit never fills below it, a buy limit never above."""
    traded = costs.fill_price(side, price)
    if limit is not None:
        traded = max(traded, limit) if side == "sell" else min(traded, limit)
    if low is not None:
        traded = max(traded, low)
    if high is not None:
        traded = min(traded, high)
    return traded


def open_session(
    state: BookState,
    session: date,
    opens: Quotes | Mapping[str, float],
    costs: CostModel,
    highs: Quotes | Mapping[str, float] | None = None,
    lows: Quotes | Mapping[str, float] | None = None,
) -> tuple[BookState, list[Fill], list[RiskEvent]]:
    """Fill every pending order at ``session``'s open; afterwards nothing is pending.

    ``opens`` holds the tradable opens only (the caller leaves out quarantined bars); a missing, NaN or
    non-positive open cancels the order rather than filling it at a stale price. A sell is capped at
    the shares held; a buy that the open made unaffordable is cut to the whole shares cash allows; a
    buy whose open is at or below its own stop is cancelled (the trade would be stopped out on entry).
    ``day_start_equity`` becomes the equity at the previous close, the base of the daily loss limit.
    With ``highs`` and ``lows``, slippage never takes a fill outside the session's range.
    """
    session = as_session(session)
    if state.last_session is not None and session <= state.last_session:
        raise ValueError(f"book {state.book!r}: cannot open {session}, already closed {state.last_session}")
    opening = _Opening(state, session, costs, highs, lows)
    for order in sorted(state.pending, key=_execution_order):
        if order.session >= session:
            raise ValueError(
                f"order {order.client_order_id} decided on {order.session} cannot fill at the open of {session}"
            )
        open_price = _tradable(opens, order.symbol)
        if open_price is None:
            opening.cancel(order, "no_tradable_open", f"no tradable open on {session}")
        elif order.side == "sell":
            opening.sell(order, open_price)
        else:
            opening.buy(order, open_price)
    positions = {s: opening.positions[s] for s in sorted(opening.positions)}
    new_state = replace(
        state,
        cash=opening.cash,
        positions=positions,
        pending=(),
        equity=compute_equity(opening.cash, positions),
        day_start_equity=state.equity,
        losing_streak=opening.streak,
    )
    return new_state, opening.fills, opening.events


class _Opening:
    """The book while a session's pending orders fill at its open, one order at a time."""

    def __init__(
        self,
        state: BookState,
        session: date,
        costs: CostModel,
        highs: Quotes | Mapping[str, float] | None,
        lows: Quotes | Mapping[str, float] | None,
    ) -> None:
        self.session, self.costs, self.highs, self.lows = session, costs, highs, lows
        self.cash, self.streak = state.cash, state.losing_streak
        self.positions = dict(state.positions)
        self.fills: list[Fill] = []
        self.events: list[RiskEvent] = []

    def _price(self, side: str, symbol: str, open_price: float) -> float:
        low = None if self.lows is None else _tradable(self.lows, symbol)
        high = None if self.highs is None else _tradable(self.highs, symbol)
        return traded_price(self.costs, side, open_price, low, high)

    def cancel(self, order: Order, rule: str, message: str, value: float | None = None, limit: float | None = None):
        self.events.append(_event(self.session, order, rule, "cancelled", message, value, limit))

    def sell(self, order: Order, open_price: float) -> None:
        held = self.positions.get(order.symbol)
        if held is None:
            self.cancel(order, "not_held", f"sell of {order.symbol}, which is not held")
            return
        qty = order.qty
        if qty > held.qty:
            message = f"sell of {qty:g} cut to the {held.qty:g} held"
            self.events.append(_event(self.session, order, "exceeds_position", "clipped", message, qty, held.qty))
            qty = held.qty
        fill = _fill(order, self.session, qty, self._price("sell", order.symbol, open_price), open_price, self.costs)
        self.cash += fill.qty * fill.price - fill.commission
        if qty == held.qty:
            self.streak = _after_close_out(self.streak, held, fill)
            del self.positions[order.symbol]
        else:
            self.positions[order.symbol] = replace(held, qty=held.qty - qty, last_price=open_price)
        self.fills.append(fill)

    def buy(self, order: Order, open_price: float) -> None:
        if order.stop_price is not None and open_price <= order.stop_price:
            message = f"open {open_price:g} is at or below the order's stop {order.stop_price:g}"
            self.cancel(order, "gap_through_stop", message, open_price, order.stop_price)
            return
        qty = order.qty
        cost = self.costs.buy_cost(qty, open_price)
        if cost > self.cash:
            affordable = min(self.costs.affordable_qty(self.cash, open_price), math.floor(qty))
            action = "clipped" if affordable > 0 else "cancelled"
            message = f"buy of {qty:g} cut to {affordable} at the open: cost {cost:.2f} > cash {self.cash:.2f}"
            self.events.append(_event(self.session, order, "clipped_at_fill", action, message, cost, self.cash))
            if affordable <= 0:
                return
            qty = float(affordable)
        fill = _fill(order, self.session, qty, self._price("buy", order.symbol, open_price), open_price, self.costs)
        self.cash -= fill.qty * fill.price + fill.commission
        self.positions[order.symbol] = after_buy(
            self.positions.get(order.symbol), order, qty, fill.price, self.session, mark=open_price
        )
        self.fills.append(fill)


_EXIT_ORDER_TYPE = {"stop_loss": "stop", "trailing_stop": "stop", "take_profit": "limit", "time_stop": "market"}


def _exit_trigger(
    position: Position, session: date, open_price: float, high: float | None, low: float | None
) -> tuple[str, float, float | None] | None:
    """(rule, raw exit price, level) if the position exits on this bar, else None."""
    if position.max_holding_sessions is not None and position.sessions_held >= position.max_holding_sessions:
        return "time_stop", open_price, None
    stop, stop_rule = position.protective_stop()
    target = position.target
    if stop is not None and open_price <= stop:
        return stop_rule, open_price, stop  # gapped through the stop: the open is the first price available
    if target is not None and open_price >= target:
        return "take_profit", open_price, target
    if stop is not None and low is not None and low <= stop:
        return stop_rule, stop, stop
    if target is not None and high is not None and high >= target:
        return "take_profit", target, target
    return None


def manage_positions(
    state: BookState,
    session: date,
    opens: Quotes | Mapping[str, float],
    highs: Quotes | Mapping[str, float],
    lows: Quotes | Mapping[str, float],
    costs: CostModel,
) -> tuple[BookState, list[Fill], list[Order]]:
    """Trigger the protective exits (stop, trailing stop, take-profit, time stop) on ``session``'s bar.

    Only positions held before this session are checked: the exits of a position bought at this open
    start with the next session (a daily bar cannot say whether its low came before or after the fill,
    and it keeps each session's sells ahead of its buys for every symbol). A symbol without a tradable
    open (missing or quarantined bar) cannot exit that session. Each exit is returned as the filled
    protective order (deterministic id per book, session, symbol and rule).
    """
    session = as_session(session)
    if state.pending:
        raise ValueError(f"book {state.book!r}: open the session before managing positions")
    cash, streak = state.cash, state.losing_streak
    positions = dict(state.positions)
    fills: list[Fill] = []
    exits: list[Order] = []
    for symbol, position in state.positions.items():
        open_price = _tradable(opens, symbol)
        if open_price is None or position.entry_session >= session:
            continue
        trigger = _exit_trigger(position, session, open_price, _tradable(highs, symbol), _tradable(lows, symbol))
        if trigger is None:
            continue
        rule, raw_price, level = trigger
        order = Order(
            client_order_id=client_order_id(state.book, session, symbol, f"exit:{rule}"),
            book=state.book,
            session=session,
            symbol=symbol,
            side="sell",
            qty=position.qty,
            order_type=_EXIT_ORDER_TYPE[rule],
            ref_price=raw_price,
            stop_price=position.protective_stop()[0],
            take_profit=position.target,
            atr=None,
            confidence=1.0,
            strategy="position_management",
            reason=f"{rule}" + ("" if level is None else f" at {level:.4f}") + f", filled from {raw_price:.4f}",
            equity_at_decision=state.equity,
            cash_at_decision=state.cash,
            position_qty_before=position.qty,
            open_positions_before=len(state.positions),
        )
        limit = level if rule == "take_profit" else None
        price = traded_price(costs, "sell", raw_price, _tradable(lows, symbol), _tradable(highs, symbol), limit)
        fill = _fill(order, session, position.qty, price, raw_price, costs)
        cash += fill.qty * fill.price - fill.commission
        streak = _after_close_out(streak, position, fill)
        del positions[symbol]
        fills.append(fill)
        exits.append(order)
    if not exits:
        return state, fills, exits
    equity = compute_equity(cash, positions)
    new_book = replace(state, cash=cash, positions=positions, equity=equity, losing_streak=streak)
    return new_book, fills, exits


def close_session(
    state: BookState,
    session: date,
    closes: Quotes | Mapping[str, float],
    highs: Quotes | Mapping[str, float] | None = None,
) -> BookState:
    """Mark the book at ``session``'s close; a symbol without a usable close keeps its last price.

    Each position counts one more session held, and its trailing ``high_water`` rises to the session's
    high (or close when no high is given), so the trailing stop only ratchets up, from the next session.
    """
    session = as_session(session)
    if state.last_session is not None and session <= state.last_session:
        raise ValueError(f"book {state.book!r}: cannot close {session}, already closed {state.last_session}")
    if state.pending:
        raise ValueError(
            f"book {state.book!r}: {len(state.pending)} orders pending at the close of {session}; open the session first"
        )
    positions = dict(state.positions)
    for symbol, position in state.positions.items():
        close = _tradable(closes, symbol)
        mark = position.last_price if close is None else close
        day_high = _tradable(highs, symbol) if highs is not None else None
        day_high = close if day_high is None else day_high
        high_water = position.high_water
        if day_high is not None:
            high_water = day_high if high_water is None else max(high_water, day_high)
        positions[symbol] = replace(
            position, last_price=mark, sessions_held=position.sessions_held + 1, high_water=high_water
        )
    equity = compute_equity(state.cash, positions)
    return replace(
        state, positions=positions, equity=equity, peak_equity=max(state.peak_equity, equity), last_session=session
    )
