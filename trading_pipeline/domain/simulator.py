"""The simulated broker: pending orders fill at the next session's open, then the book is marked at the close.

A decision on session D is made at D's close, so its orders can only ever meet a price from D+1 or
later; ``open_session`` refuses to fill an order at or before its own decision session. Every order
that does not fill in full leaves a ``RiskEvent`` — nothing is silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import date

from trading_pipeline.domain.book import (
    BookState,
    Fill,
    Order,
    Position,
    RiskEvent,
    as_session,
    compute_equity,
    fill_id,
)
from trading_pipeline.domain.costs import CostModel


def _tradable(prices: Mapping[str, float], symbol: str) -> float | None:
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


def _fill(order: Order, session: date, qty: float, price: float, open_price: float, costs: CostModel) -> Fill:
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
        slippage=qty * abs(price - open_price),
    )


def open_session(
    book: BookState, session: date, opens: Mapping[str, float], costs: CostModel
) -> tuple[BookState, list[Fill], list[RiskEvent]]:
    """Fill every pending order at ``session``'s open; afterwards nothing is pending.

    ``opens`` holds the tradable opens only (the caller leaves out quarantined bars); a missing, NaN or
    non-positive open cancels the order rather than filling it at a stale price. A sell is capped at
    the shares held; a buy that the open made unaffordable is cut to the whole shares cash allows.
    """
    session = as_session(session)
    if book.last_session is not None and session <= book.last_session:
        raise ValueError(f"book {book.book!r}: cannot open {session}, already closed {book.last_session}")
    cash = book.cash
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
                del positions[order.symbol]
            else:
                positions[order.symbol] = replace(held, qty=held.qty - qty, last_price=open_price)
        else:
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
    new_book = replace(book, cash=cash, positions=positions, pending=(), equity=compute_equity(cash, positions))
    return new_book, fills, events


def close_session(book: BookState, session: date, closes: Mapping[str, float]) -> BookState:
    """Mark the book at ``session``'s close; a symbol without a usable close keeps its last price."""
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
        if close is not None and close != position.last_price:
            positions[symbol] = replace(position, last_price=close)
    equity = compute_equity(book.cash, positions)
    return replace(
        book, positions=positions, equity=equity, peak_equity=max(book.peak_equity, equity), last_session=session
    )
