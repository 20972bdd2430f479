"""Protective exits held at the broker: what each open position needs there, and what to do to get it.

A position is protected by one exit set for its whole quantity: a stop at its protective level (the higher of
its fixed stop and its trailing stop, as ``Position.protective_stop`` computes it for the simulator) and, when it
has a target, a take-profit limit in one-cancels-other with the stop. The trail is followed by *replacing the
stop* after each close, not by the broker's own trailing-stop order: the stop level is then exactly the
simulator's for the next session (the trail ratchets on the session's high, from the next session on), and a
trailing-stop order cannot share an OCO with a take-profit, while the broker holds only one set of sell orders
per position (shares held by an exit cannot be sold twice). Between two cycles the stop stays where it was:
the position is still protected, only no longer trailing.

Pure: the broker resource turns the plan into orders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from trading_pipeline.domain.book import BookState, Order
from trading_pipeline.domain.ledger import QTY_TOLERANCE
from trading_pipeline.domain.ticks import round_to_tick

EXIT_TYPES = ("stop", "limit")


@dataclass(frozen=True, slots=True)
class Protection:
    """What a long position needs at the broker: a sell stop for ``qty`` at ``stop``, with ``target`` as OCO."""

    symbol: str
    qty: float
    stop: float
    target: float | None


@dataclass(frozen=True, slots=True)
class Place:
    protection: Protection


@dataclass(frozen=True, slots=True)
class MoveStop:
    """Replace the stop order ``client_order_id`` (same quantity, same OCO partner) at ``stop``."""

    client_order_id: str
    protection: Protection


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel the exit set that ``client_order_id`` belongs to (its OCO partner goes with it)."""

    client_order_id: str
    symbol: str
    why: str


Action = Place | MoveStop | Cancel


def is_exit(order: Order) -> bool:
    """A protective exit held at the broker: a sell stop or limit (the daily cycle's own orders are market)."""
    return order.side == "sell" and order.order_type in EXIT_TYPES


def wanted(state: BookState) -> dict[str, Protection]:
    """The exit set each open position needs, at prices on the tick (a sell stop rounds up, toward the market)."""
    out: dict[str, Protection] = {}
    for symbol, position in state.positions.items():
        stop, _ = position.protective_stop()
        if stop is None:
            raise ValueError(f"{symbol}: an open position without a stop cannot be protected at the broker")
        target = position.target
        out[symbol] = Protection(
            symbol=symbol,
            qty=position.qty,
            stop=round_to_tick(stop, "sell"),
            target=None if target is None else round_to_tick(target, "sell"),
        )
    return out


def plan(needs: Mapping[str, Protection], held: Iterable[Order], leave: Sequence[str] = ()) -> list[Action]:
    """The actions that make the broker's exit sets (``held``, the book's working exit orders) match ``needs``.

    Symbols in ``leave`` are left alone (the cycle is selling them: their exits are cancelled before the sell).
    An exit set whose position is gone is cancelled; a position with no stop gets a new set; a set whose
    quantity or target differs is cancelled and placed again (the quantity of an OCO cannot be replaced); a
    stop at another level is moved.
    """
    by_symbol: dict[str, list[Order]] = {}
    for order in held:
        if not is_exit(order):
            raise ValueError(f"{order.client_order_id} is not a protective exit ({order.side} {order.order_type})")
        by_symbol.setdefault(order.symbol, []).append(order)
    actions: list[Action] = []
    for symbol in sorted(set(by_symbol) | set(needs)):
        if symbol in leave:
            continue
        orders = by_symbol.get(symbol, [])
        need = needs.get(symbol)
        if need is None:
            actions.extend(Cancel(o.client_order_id, symbol, "the position is closed") for o in group_sets(orders))
            continue
        stops = [o for o in orders if o.order_type == "stop"]
        limits = [o for o in orders if o.order_type == "limit"]
        if not stops:
            actions.extend(Cancel(o.client_order_id, symbol, "a take-profit without its stop") for o in limits)
            actions.append(Place(need))
            continue
        stop = stops[0]
        target = limits[0].take_profit if limits else None
        if len(stops) > 1 or len(limits) > 1 or abs(stop.qty - need.qty) > QTY_TOLERANCE or target != need.target:
            why = f"the position is {need.qty:g} with target {need.target}, its exits cover {stop.qty:g} / {target}"
            actions.extend(Cancel(o.client_order_id, symbol, why) for o in group_sets(orders))
            actions.append(Place(need))
        elif stop.stop_price != need.stop:
            actions.append(MoveStop(stop.client_order_id, need))
    return actions


def group_sets(orders: Iterable[Order]) -> list[Order]:
    """One order per exit set: cancelling one member of an OCO cancels its partner."""
    seen: set[str] = set()
    out = []
    for order in orders:
        key = order.parent or order.client_order_id
        if key not in seen:
            seen.add(key)
            out.append(order)
    return out
