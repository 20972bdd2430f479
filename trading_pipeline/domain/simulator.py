"""The simulated broker: pending orders fill at the next session's open, protective exits trigger on the
session's bar, then the book is marked at the close.

A decision on session D is made at D's close, so its orders can only ever meet a price from D+1 or
later; ``open_session`` refuses to fill an order at or before its own decision session. Every order
that does not fill in full leaves a ``RiskEvent`` — nothing is silently dropped.

Exits respect gaps: a stop the open gapped through fills at the open (not at the stop), a stop touched
inside the bar fills at the stop; a take-profit likewise fills at the open when the open is already
above it, else at the target. Both less slippage. When one bar touches both, the stop is assumed to
have come first (the conservative reading of a daily bar).
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


def open_session(
    book: BookState, session: date, opens: Quotes | Mapping[str, float], costs: CostModel
) -> tuple[BookState, list[Fill], list[RiskEvent]]:
    """Fill every pending order at ``session``'s open; afterwards nothing is pending.

    ``opens`` holds the tradable opens only (the caller leaves out quarantined bars); a missing, NaN or
    non-positive open cancels the order rather than filling it at a stale price. A sell is capped at
    the shares held; a buy that the open made unaffordable is cut to the whole shares cash allows; a
    buy whose open is at or below its own stop is cancelled (the trade would be stopped out on entry).
    ``day_start_equity`` becomes the equity at the previous close, the base of the daily loss limit.
    """
    session = as_session(session)
    if book.last_session is not None and session <= book.last_session:
        raise ValueError(f"book {book.book!r}: cannot open {session}, already closed {book.last_session}")
    cash = book.cash
    streak = book.losing_streak
    positions = dict(book.positions)
    fills: list[Fill] = []
    events: list[RiskEvent] = []
    for order in sorted(book.pending, key=_execution_order):
        if order.session >= session:
            raise ValueError(
                f"order {order.client_order_id} decided on {order.session} cannot fill at the open of {session}"
            )
        open_price = _tradable(opens, order.symbol)
        if open_price is None:
            events.append(_event(session, order, "no_tradable_open", "cancelled", f"no tradable open on {session}"))
            continue
        held = positions.get(order.symbol)
        qty = order.qty
        if order.side == "sell":
            if held is None:
                events.append(
                    _event(session, order, "not_held", "cancelled", f"sell of {order.symbol}, which is not held")
                )
                continue
            if qty > held.qty:
                message = f"sell of {qty:g} cut to the {held.qty:g} held"
                events.append(_event(session, order, "exceeds_position", "clipped", message, qty, held.qty))
                qty = held.qty
            fill = _fill(order, session, qty, costs.fill_price("sell", open_price), open_price, costs)
            cash += fill.qty * fill.price - fill.commission
            if qty == held.qty:
                streak = _after_close_out(streak, held, fill)
                del positions[order.symbol]
            else:
                positions[order.symbol] = replace(held, qty=held.qty - qty, last_price=open_price)
        else:
            if order.stop_price is not None and open_price <= order.stop_price:
                message = f"open {open_price:g} is at or below the order's stop {order.stop_price:g}"
                events.append(
                    _event(session, order, "gap_through_stop", "cancelled", message, open_price, order.stop_price)
                )
                continue
            cost = costs.buy_cost(qty, open_price)
            if cost > cash:
                affordable = min(costs.affordable_qty(cash, open_price), math.floor(qty))
                action = "clipped" if affordable > 0 else "cancelled"
                message = f"buy of {qty:g} cut to {affordable} at the open: cost {cost:.2f} > cash {cash:.2f}"
                events.append(_event(session, order, "clipped_at_fill", action, message, cost, cash))
                if affordable <= 0:
                    continue
                qty = float(affordable)
            fill = _fill(order, session, qty, costs.fill_price("buy", open_price), open_price, costs)
            cash -= fill.qty * fill.price + fill.commission
            if held is None:
                positions[order.symbol] = Position(
                    symbol=order.symbol,
                    qty=qty,
                    avg_price=fill.price,
                    last_price=open_price,
                    entry_session=session,
                    stop=order.stop_price,
                    target=order.take_profit,
                    trail_distance=order.trail_distance,
                    trail_pct=order.trail_pct,
                    high_water=open_price,
                    max_holding_sessions=order.max_holding_sessions,
                )
            else:
                total = held.qty + qty
                positions[order.symbol] = replace(
                    held,
                    qty=total,
                    avg_price=(held.qty * held.avg_price + qty * fill.price) / total,
                    last_price=open_price,
                    stop=order.stop_price if order.stop_price is not None else held.stop,
                )
        fills.append(fill)
    positions = {s: positions[s] for s in sorted(positions)}
    new_book = replace(
        book,
        cash=cash,
        positions=positions,
        pending=(),
        equity=compute_equity(cash, positions),
        day_start_equity=book.equity,
        losing_streak=streak,
    )
    return new_book, fills, events


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
    book: BookState,
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
    if book.pending:
        raise ValueError(f"book {book.book!r}: open the session before managing positions")
    cash, streak = book.cash, book.losing_streak
    positions = dict(book.positions)
    fills: list[Fill] = []
    exits: list[Order] = []
    for symbol, position in book.positions.items():
        open_price = _tradable(opens, symbol)
        if open_price is None or position.entry_session >= session:
            continue
        trigger = _exit_trigger(position, session, open_price, _tradable(highs, symbol), _tradable(lows, symbol))
        if trigger is None:
            continue
        rule, raw_price, level = trigger
        order = Order(
            client_order_id=client_order_id(book.book, session, symbol, f"exit:{rule}"),
            book=book.book,
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
            equity_at_decision=book.equity,
            cash_at_decision=book.cash,
            position_qty_before=position.qty,
            open_positions_before=len(book.positions),
        )
        fill = _fill(order, session, position.qty, costs.fill_price("sell", raw_price), raw_price, costs)
        cash += fill.qty * fill.price - fill.commission
        streak = _after_close_out(streak, position, fill)
        del positions[symbol]
        fills.append(fill)
        exits.append(order)
    if not exits:
        return book, fills, exits
    equity = compute_equity(cash, positions)
    new_book = replace(book, cash=cash, positions=positions, equity=equity, losing_streak=streak)
    return new_book, fills, exits


def close_session(
    book: BookState,
    session: date,
    closes: Quotes | Mapping[str, float],
    highs: Quotes | Mapping[str, float] | None = None,
) -> BookState:
    """Mark the book at ``session``'s close; a symbol without a usable close keeps its last price.

    Each position counts one more session held, and its trailing ``high_water`` rises to the session's
    high (or close when no high is given), so the trailing stop only ratchets up, from the next session.
    """
    session = as_session(session)
    if book.last_session is not None and session <= book.last_session:
        raise ValueError(f"book {book.book!r}: cannot close {session}, already closed {book.last_session}")
    if book.pending:
        raise ValueError(
            f"book {book.book!r}: {len(book.pending)} orders pending at the close of {session}; open the session first"
        )
    positions = dict(book.positions)
    for symbol, position in book.positions.items():
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
    equity = compute_equity(book.cash, positions)
    return replace(
        book, positions=positions, equity=equity, peak_equity=max(book.peak_equity, equity), last_session=session
    )
