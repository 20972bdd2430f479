"""The sandbox's account: orders, positions and cash, with Alpaca's acceptance rules and the session's executions.

Acceptance, as Alpaca answers (status, code, message): a known client_order_id 422; an unknown symbol 422; a
halted asset 422; an opg order between 09:28 and 19:00 ET (cls: from 10 minutes before the close) on a
session day 422; an order opening a position (a buy, a short sale) beyond buying power 403; a sell of a
long position beyond the shares open sell orders do not already hold 403 ("insufficient qty available");
a simple order that could execute against an open opposite-side simple order 403 ("potential wash trade",
complex orders and trailing stops exempt).

Execution happens only when the clock passes a session's open or close (``open_session``,
``close_session``), against that session's bar (see ``matching``); orders queued while the market is
closed are ``accepted`` and become ``new`` at the open. The test controls ``fill``, ``expire`` and
``partial`` act like the exchange would, with the same consequences (OCO siblings cancelled, bracket legs
activated).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from trading_pipeline.sandbox import matching
from trading_pipeline.sandbox.assets import Asset
from trading_pipeline.sandbox.orders import (
    CLOSED,
    STOP_TYPES,
    WORKING,
    Order,
    OrderRequest,
    asset_id,
    build_orders,
    parse_order_request,
)
from trading_pipeline.sandbox.rules import check_auction_window, check_exit_prices, executable_bound
from trading_pipeline.sandbox.wire import (
    FORBIDDEN,
    NOT_FOUND,
    UNPROCESSABLE,
    ApiError,
    num,
    parse_number,
    unprocessable,
)

QTY_TOLERANCE = 1e-9


@dataclass
class Position:
    qty: float  # signed: short positions negative
    avg_price: float


@dataclass(frozen=True)
class Update:
    """What happened to an order when the clock moved (the sandbox's trade_updates)."""

    event: str  # new, fill, partial_fill, canceled, expired
    at: datetime
    order: dict[str, Any]


class Account:
    """One Alpaca account; every method is called under the server's lock."""

    def __init__(self, cash: float, assets: Iterable[Asset], marks: Mapping[str, float]) -> None:
        self.cash = cash
        self.last_equity = cash
        self.assets = {a.symbol: a for a in assets}
        self.marks = dict(marks)  # the latest price of each symbol
        self.lastday = dict(marks)  # each symbol's previous close
        self.orders: dict[str, Order] = {}
        self.by_client_id: dict[str, str] = {}
        self.positions: dict[str, Position] = {}
        self.updates: list[Update] = []
        self._caps: dict[str, float] = {}  # scripted partial fills: order id -> qty of its next execution
        self._reserved: dict[str, float] = {}  # order id -> price its buying-power reservation uses
        self._last_stamp: datetime | None = None

    # ---- reading ----------------------------------------------------------------------------------------------
    def order_json(self, order: Order, nested: bool = True) -> dict[str, Any]:
        legs = [self.order_json(self.orders[i], nested=False) for i in order.legs] if nested and order.legs else None
        return order.to_json(legs)

    def find(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise ApiError(404, NOT_FOUND, "order not found")
        return order

    def find_by_client_id(self, client_order_id: str) -> Order:
        order_id = self.by_client_id.get(client_order_id)
        if order_id is None:
            raise ApiError(404, NOT_FOUND, "order not found")
        return self.orders[order_id]

    def equity(self) -> float:
        return self.cash + sum(p.qty * self.marks.get(s, p.avg_price) for s, p in self.positions.items())

    def buying_power(self) -> float:
        reserved = sum(  # orders that open positions hold buying power until they execute
            o.remaining * self._reserved.get(o.id, 0.0)
            for o in self.orders.values()
            if o.status in WORKING and (o.position_intent or "").endswith("_to_open")
        )
        return self.cash - reserved

    def held_for_orders(self, symbol: str) -> float:
        """Shares open sell orders hold; the two exits of an OCO pair hold the same shares once."""
        held: dict[str, float] = {}
        for o in self.orders.values():
            if o.symbol == symbol and o.side == "sell" and o.status in WORKING:
                group = o.parent or o.id
                held[group] = max(held.get(group, 0.0), o.remaining)
        return sum(held.values())

    def account_json(self) -> dict[str, Any]:
        longs = sum(p.qty * self.marks.get(s, p.avg_price) for s, p in self.positions.items() if p.qty > 0)
        shorts = sum(p.qty * self.marks.get(s, p.avg_price) for s, p in self.positions.items() if p.qty < 0)
        power = num(self.buying_power())
        return {
            "id": "5ec9f6f4-3c54-4c3c-9a5c-1fa7d5a6a111",
            "account_number": "PA3SANDBOX01",
            "status": "ACTIVE",
            "crypto_status": "INACTIVE",
            "currency": "USD",
            "buying_power": power,
            "regt_buying_power": power,
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": power,
            "cash": num(self.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "portfolio_value": num(self.equity()),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": "2020-01-02T15:00:00Z",
            "trade_suspended_by_user": False,
            "multiplier": "1",
            "shorting_enabled": True,
            "equity": num(self.equity()),
            "last_equity": num(self.last_equity),
            "long_market_value": num(longs),
            "short_market_value": num(shorts),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
        }

    def position_json(self, symbol: str) -> dict[str, Any]:
        position = self.positions.get(symbol)
        if position is None:
            raise ApiError(404, NOT_FOUND, "position does not exist")
        qty, avg = position.qty, position.avg_price
        price = self.marks.get(symbol, avg)
        lastday = self.lastday.get(symbol, price)
        cost = qty * avg
        asset = self.assets.get(symbol)
        return {
            "asset_id": asset_id(symbol),
            "symbol": symbol,
            "exchange": asset.exchange if asset else "NASDAQ",
            "asset_class": "us_equity",
            "asset_marginable": True,
            "qty": num(abs(qty)),
            "qty_available": num(abs(qty) - (self.held_for_orders(symbol) if qty > 0 else 0.0)),
            "avg_entry_price": num(avg),
            "side": "long" if qty > 0 else "short",
            "market_value": num(qty * price),
            "cost_basis": num(cost),
            "unrealized_pl": num(qty * price - cost),
            "unrealized_plpc": num((price - avg) / avg * math.copysign(1.0, qty)),
            "unrealized_intraday_pl": num(qty * (price - lastday)),
            "unrealized_intraday_plpc": num((price - lastday) / lastday * math.copysign(1.0, qty)),
            "current_price": num(price),
            "lastday_price": num(lastday),
            "change_today": num(price / lastday - 1),
        }

    # ---- submitting -------------------------------------------------------------------------------------------
    def submit(self, body: Any, now: datetime, market_open: bool) -> Order:
        """Accept a POST /v2/orders body, or raise the ApiError Alpaca would answer."""
        request = parse_order_request(body)
        if request.client_order_id is not None and request.client_order_id in self.by_client_id:
            raise unprocessable("client_order_id must be unique")
        asset = self.assets.get(request.symbol)
        if asset is None:
            raise unprocessable(f'asset "{request.symbol}" not found')
        if asset.status != "active" or not asset.tradable:
            raise ApiError(422, UNPROCESSABLE, f"asset {request.symbol} is not tradable")
        check_auction_window(request.time_in_force, now)
        mark = self.marks.get(request.symbol)
        check_exit_prices(request, mark)
        self._check_funds(request, mark)
        if request.order_class == "simple" and request.type != "trailing_stop":
            self._check_wash_trade(request)
        orders = build_orders(request, self._stamp(now), "new" if market_open else "accepted")
        main = orders[0]
        if main.type == "trailing_stop" and mark is not None:
            main.set_hwm(mark)
        for order in orders:
            order.position_intent = self._intent(order)
            self.orders[order.id] = order
            self.by_client_id[order.client_order_id] = order.id
        self._reserved[main.id] = request.reference_price or mark or 0.0
        return main

    def _stamp(self, now: datetime) -> datetime:
        """A submission time: the clock, a microsecond after the previous one when the clock has not moved,
        so submission times order orders and never tie (Alpaca's are microsecond-precise)."""
        stamp = (
            now if self._last_stamp is None or now > self._last_stamp else self._last_stamp + timedelta(microseconds=1)
        )
        self._last_stamp = stamp
        return stamp

    def _intent(self, order: Order) -> str:
        held = self.positions.get(order.symbol, Position(0.0, 0.0)).qty
        closing = order.parent is not None or (held < 0 if order.side == "buy" else held > 0)
        return f"{order.side}_to_{'close' if closing else 'open'}"

    def _check_funds(self, request: OrderRequest, mark: float | None) -> None:
        """A sell of a long position may not exceed the shares open sell orders leave; an order that opens
        a position (a buy, or a short sale when flat or short) needs buying power."""
        held = self.positions.get(request.symbol, Position(0.0, 0.0)).qty
        if request.side == "sell" and held > 0:
            available = held - self.held_for_orders(request.symbol)
            if request.qty > available + QTY_TOLERANCE:
                raise ApiError(
                    403,
                    FORBIDDEN,
                    f"insufficient qty available for order (requested: {request.qty:g}, available: {max(available, 0):g})",
                    existing_qty=num(held),
                    held_for_orders=num(self.held_for_orders(request.symbol)),
                    symbol=request.symbol,
                )
            return
        if request.side == "buy" and request.qty <= -held + QTY_TOLERANCE:
            return  # buying to cover a short
        if request.side == "sell" and not self.assets[request.symbol].shortable:
            raise ApiError(403, FORBIDDEN, f"asset {request.symbol} is not shortable")
        price = request.reference_price or mark or 0.0
        if request.qty * price > self.buying_power() + QTY_TOLERANCE:
            raise ApiError(403, FORBIDDEN, "insufficient buying power")

    def _check_wash_trade(self, request: OrderRequest) -> None:
        """Alpaca refuses a simple order its own open opposite-side simple order could trade against."""
        mine = executable_bound(request.type, request.limit_price)
        for other in self.orders.values():
            if (
                other.symbol != request.symbol
                or other.side == request.side
                or other.status not in WORKING
                or other.is_complex
                or other.type == "trailing_stop"
            ):
                continue
            theirs = executable_bound(other.type, other.limit_price)
            buy_max, sell_min = (mine[1], theirs[0]) if request.side == "buy" else (theirs[1], mine[0])
            if buy_max >= sell_min:
                raise ApiError(
                    403,
                    FORBIDDEN,
                    "potential wash trade detected. use complex orders",
                    existing_order_id=other.id,
                    reject_reason="opposite side order exists",
                )

    # ---- cancelling and replacing -----------------------------------------------------------------------------
    def cancel(self, order: Order, now: datetime) -> None:
        if order.status in CLOSED:
            raise ApiError(422, UNPROCESSABLE, f'order is already in "{order.status}" state')
        self._end(order, "canceled", now)

    def cancel_all(self, now: datetime) -> list[dict[str, Any]]:
        """DELETE /v2/orders: every open order (a complex order with its legs), one 200 per order."""
        cancelled = []
        for order in list(self.orders.values()):
            if order.is_open and order.parent is None:
                self._end(order, "canceled", now)
                cancelled.append({"id": order.id, "status": 200})
        return cancelled

    def replace_order(self, order: Order, body: Any, now: datetime) -> Order:
        """PATCH /v2/orders/{id}: a new order with a new id; the old one becomes ``replaced``."""
        if not isinstance(body, dict):
            raise unprocessable("the replacement must be a JSON object")
        if order.status not in ("new", "held"):
            raise ApiError(422, UNPROCESSABLE, f'order is not replaceable in "{order.status}" state')
        if order.legs and order.order_class != "oco":
            raise ApiError(422, UNPROCESSABLE, f"the entry of an {order.order_class} order cannot be replaced")
        changes: dict[str, Any] = {}
        if body.get("qty") is not None:
            if order.is_complex:
                raise ApiError(422, UNPROCESSABLE, f"the qty of an {order.order_class} order cannot be replaced")
            changes["qty"] = parse_number(body["qty"], "qty")
        for name in ("limit_price", "stop_price"):
            if body.get(name) is not None:
                if getattr(order, name) is None or order.type == "trailing_stop":
                    raise unprocessable(f"a {order.type} order has no {name} to replace")
                changes[name] = parse_number(body[name], name)
        if body.get("trail") is not None:
            if order.type != "trailing_stop":
                raise unprocessable("trail applies to trailing_stop orders only")
            changes["trail_price" if order.trail_price is not None else "trail_percent"] = parse_number(
                body["trail"], "trail"
            )
        if body.get("time_in_force") is not None:
            if body["time_in_force"] not in ("day", "gtc"):
                raise unprocessable("the sandbox replaces time_in_force with day or gtc only")
            changes["time_in_force"] = body["time_in_force"]
        if order.side == "sell" and changes.get("qty", 0.0) > order.remaining:
            self._check_funds(replace(_as_request(order), qty=changes["qty"] - order.remaining), None)
        client_order_id = body.get("client_order_id") or str(uuid.uuid4())
        if client_order_id in self.by_client_id:
            raise unprocessable("client_order_id must be unique")
        new = replace(
            order,
            id=str(uuid.uuid4()),
            client_order_id=client_order_id,
            submitted_at=self._stamp(now),
            replaces=order.id,
            legs=list(order.legs),
            stamps={},
            **changes,
        )
        if new.type == "trailing_stop" and new.hwm is not None:
            new.set_hwm(new.hwm)
        order.set_status("replaced", now)
        order.replaced_by = new.id
        self.orders[new.id] = new
        self.by_client_id[client_order_id] = new.id
        self._reserved[new.id] = self._reserved.get(order.id, 0.0)
        if order.parent is not None:
            parent = self.orders[order.parent]
            parent.legs = [new.id if i == order.id else i for i in parent.legs]
        for leg in order.legs:
            self.orders[leg].parent = new.id
        return new

    def close_position(self, symbol: str, query: Mapping[str, str], now: datetime, market_open: bool) -> Order:
        """DELETE /v2/positions/{symbol}: a market order for the position (or ``qty`` / ``percentage`` of it)."""
        position = self.positions.get(symbol)
        if position is None:
            raise ApiError(404, NOT_FOUND, "position does not exist")
        qty = abs(position.qty)
        if "qty" in query:
            qty = parse_number(query["qty"], "qty")
        elif "percentage" in query:
            qty = qty * parse_number(query["percentage"], "percentage") / 100
        body = {
            "symbol": symbol,
            "qty": qty,
            "side": "sell" if position.qty > 0 else "buy",
            "type": "market",
            "time_in_force": "day",
        }
        return self.submit(body, now, market_open)

    # ---- the exchange ------------------------------------------------------------------------------------------
    def open_session(self, bars: Mapping[str, matching.Bar], now: datetime) -> None:
        """The clock passes a session's open: queued orders route, then meet the opening print; opg leftovers expire."""
        for symbol, bar in bars.items():
            self.lastday[symbol] = self.marks.get(symbol, bar.open)
            self.marks[symbol] = bar.open
        for order in list(self.orders.values()):
            if order.status == "accepted":
                order.set_status("new", now)
                self._record("new", order, now)
        self._pass(bars, now, "open")
        for order in list(self.orders.values()):
            if order.status in WORKING and order.time_in_force == "opg":
                self._end(order, "expired", now)

    def close_session(self, bars: Mapping[str, matching.Bar], now: datetime) -> None:
        """The clock passes a session's close: the bar's range, then the closing auction, then day orders expire."""
        self._pass(bars, now, "bar")
        self._pass(bars, now, "close")
        for order in list(self.orders.values()):
            if order.is_open and order.time_in_force in ("day", "opg", "cls"):
                self._end(order, "expired", now)
        for symbol, bar in bars.items():
            self.marks[symbol] = bar.close
        self.last_equity = self.equity()

    def _pass(self, bars: Mapping[str, matching.Bar], now: datetime, phase: str) -> None:
        """Each working order with a bar meets it once in ``phase`` (open, bar or close); legs an execution
        activates meet it in the same pass.

        Market orders go first, then stops, then limits, so when one bar touches both exits of an OCO pair
        the stop wins (the conservative reading, as in the simulator).
        """
        seen: set[str] = set()
        while todo := [
            o
            for o in self.orders.values()
            if o.status in WORKING and o.id not in seen and o.symbol in bars and _meets(o.time_in_force, phase)
        ]:
            todo.sort(key=lambda o: (o.type == "market", o.type in STOP_TYPES), reverse=True)
            for order in todo:
                seen.add(order.id)
                if order.status in WORKING:  # not cancelled by an earlier execution in this pass
                    self._meet(order, bars[order.symbol], now, phase)

    def _meet(self, order: Order, bar: matching.Bar, now: datetime, phase: str) -> None:
        if order.type == "trailing_stop" and order.hwm is None:  # placed with no price known: trails from here
            order.set_hwm(bar.open)
            return
        if phase == "open":
            result = matching.at_open(order.terms(), bar.open)
        elif phase == "bar":
            result = matching.in_bar(order.terms(), bar)
        else:
            result = matching.at_close(order.terms(), bar.close)
        order.triggered = order.triggered or result.triggered
        if result.price is not None:
            self._execute(order, min(order.remaining, self._caps.pop(order.id, order.remaining)), result.price, now)
        elif order.type == "trailing_stop":
            assert order.hwm is not None
            order.set_hwm(matching.ratchet(order.side, order.hwm, bar.open if phase == "open" else bar))

    def fill(self, order: Order, qty: float, price: float, now: datetime) -> None:
        """An execution of ``qty`` at ``price``, as the exchange reports it (the test control)."""
        if order.status not in WORKING:
            raise ValueError(f"cannot fill {order.client_order_id}: it is {order.status}")
        if qty <= 0 or qty > order.remaining + QTY_TOLERANCE:
            raise ValueError(
                f"cannot fill {qty} of {order.client_order_id}: {order.filled_qty:g} of {order.qty:g} already filled"
            )
        self._execute(order, qty, price, now)

    def expire(self, order: Order, status: str, now: datetime) -> None:
        """The exchange closes the rest of the order: expired, canceled or rejected (the test control)."""
        if status not in ("expired", "canceled", "rejected"):
            raise ValueError(f"status must be expired, canceled or rejected, got {status!r}")
        if not order.is_open:
            raise ValueError(f"cannot close {order.client_order_id}: it is already {order.status}")
        self._end(order, status, now)

    def cap_next_fill(self, order: Order, qty: float) -> None:
        """Script a partial fill: the order's next execution by the sandbox fills ``qty`` only."""
        if not 0 < qty < order.remaining:
            raise ValueError(f"a partial fill of {order.client_order_id} must be in (0, {order.remaining:g})")
        self._caps[order.id] = qty

    def _execute(self, order: Order, qty: float, price: float, now: datetime) -> None:
        filled = order.filled_qty + qty
        order.filled_avg_price = ((order.filled_avg_price or 0.0) * order.filled_qty + price * qty) / filled
        order.filled_qty = filled
        done = order.remaining <= QTY_TOLERANCE
        order.set_status("filled" if done else "partially_filled", now)
        self._book(order.symbol, qty if order.side == "buy" else -qty, price)
        self._record("fill" if done else "partial_fill", order, now)
        for sibling in self._other_exits(order):
            if sibling.is_open:
                self._end(sibling, "canceled", now)
        if done and order.legs and order.order_class in ("bracket", "oto"):
            self._activate_legs(order, now)

    def _book(self, symbol: str, signed_qty: float, price: float) -> None:
        position = self.positions.get(symbol, Position(0.0, 0.0))
        qty = position.qty + signed_qty
        if abs(qty) <= QTY_TOLERANCE:
            self.positions.pop(symbol, None)
        elif position.qty * signed_qty >= 0:  # opening or adding
            position.avg_price = (position.avg_price * abs(position.qty) + price * abs(signed_qty)) / abs(qty)
        elif position.qty * qty < 0:  # through zero: the rest opens at this price
            position.avg_price = price
        if abs(qty) > QTY_TOLERANCE:
            position.qty = qty
            self.positions[symbol] = position
        self.cash -= signed_qty * price
        self.marks[symbol] = price

    def _end(self, order: Order, status: str, now: datetime) -> None:
        """Close an open order; an entry takes its held legs along (or hands them its fills), an exit its pair."""
        if not order.is_open:
            return
        order.set_status(status, now)
        self._record(status, order, now)
        if order.legs and order.order_class in ("bracket", "oto"):
            if order.filled_qty > QTY_TOLERANCE:
                for leg in self._legs(order):
                    leg.qty = order.filled_qty
                self._activate_legs(order, now)
            else:
                for leg in self._legs(order):
                    self._end(leg, "canceled", now)
        for sibling in self._other_exits(order):  # an exit pair ends together
            self._end(sibling, "expired" if status == "expired" else "canceled", now)

    def _activate_legs(self, entry: Order, now: datetime) -> None:
        for leg in self._legs(entry):
            if leg.status == "held":
                leg.set_status("new", now)
                if leg.type == "trailing_stop":
                    leg.set_hwm(self.marks[leg.symbol])
                self._record("new", leg, now)

    def _legs(self, order: Order) -> list[Order]:
        return [self.orders[i] for i in order.legs]

    def _other_exits(self, order: Order) -> list[Order]:
        """The other members of an exit pair: an OCO order and its leg, or a bracket's two exit legs."""
        if order.order_class == "oco":
            pair = [order.id, *order.legs] if order.parent is None else [order.parent, *self.orders[order.parent].legs]
        elif order.parent is not None and order.order_class == "bracket":
            pair = self.orders[order.parent].legs
        else:
            return []
        return [self.orders[i] for i in pair if i != order.id]

    def _record(self, event: str, order: Order, now: datetime) -> None:
        self.updates.append(Update(event, now, self.order_json(order, nested=False)))


def _meets(time_in_force: str, phase: str) -> bool:
    """Which orders take part in a session's phase: opg only at the open, cls only at the close."""
    if phase == "open":
        return time_in_force != "cls"
    if phase == "bar":
        return time_in_force not in ("opg", "cls")
    return time_in_force == "cls"


def _as_request(order: Order) -> OrderRequest:
    return OrderRequest(
        symbol=order.symbol,
        qty=order.qty,
        side=order.side,
        type=order.type,
        time_in_force=order.time_in_force,
        order_class=order.order_class,
        client_order_id=None,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        trail_price=order.trail_price,
        trail_percent=order.trail_percent,
        take_profit=None,
        stop_loss=None,
    )
