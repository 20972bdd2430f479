"""Orders as Alpaca takes them (POST /v2/orders bodies) and returns them (the Order JSON alpaca-py parses).

Order classes: ``simple``; ``bracket`` (an entry with a take-profit limit leg and a stop-loss leg, both
``held`` until the entry fills, then one-cancels-other); ``oco`` (an exit pair: the take-profit limit is
the order itself, the stop-loss its one leg, both working at once); ``oto`` (an entry with one held exit).
A leg has its own id and client_order_id (generated, as Alpaca does), its class is its parent's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from trading_pipeline.sandbox import matching
from trading_pipeline.sandbox.wire import UNPROCESSABLE, iso, num, parse_number, unprocessable

ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls")
ORDER_CLASSES = ("simple", "bracket", "oco", "oto")
WORKING = frozenset({"new", "accepted", "partially_filled"})  # may execute
OPEN = WORKING | {"held"}  # a held leg waits for its entry
CLOSED = frozenset({"filled", "canceled", "expired", "replaced", "rejected"})
ENDED_AT = {
    "filled": "filled_at",
    "canceled": "canceled_at",
    "expired": "expired_at",
    "rejected": "failed_at",
    "replaced": "replaced_at",
}
STOP_TYPES = frozenset({"stop", "stop_limit", "trailing_stop"})


def asset_id(symbol: str) -> str:
    """A stable asset id per symbol, so orders, positions and assets agree."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"sandbox.{symbol}"))


@dataclass
class Order:
    """One order's state; ``legs`` and ``parent`` link the orders of a bracket, OCO or OTO by id."""

    id: str
    client_order_id: str
    symbol: str
    side: matching.Side
    qty: float
    type: str
    time_in_force: str
    order_class: str
    status: str
    submitted_at: datetime
    limit_price: float | None = None
    stop_price: float | None = None
    trail_price: float | None = None
    trail_percent: float | None = None
    hwm: float | None = None
    triggered: bool = False
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    position_intent: str | None = None
    legs: list[str] = field(default_factory=list)
    parent: str | None = None
    replaces: str | None = None
    replaced_by: str | None = None
    stamps: dict[str, datetime] = field(default_factory=dict)  # updated_at, filled_at, canceled_at, ...

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def remaining(self) -> float:
        return self.qty - self.filled_qty

    @property
    def is_complex(self) -> bool:
        return self.order_class != "simple"

    def terms(self) -> matching.Terms:
        return matching.Terms(self.type, self.side, self.limit_price, self.stop_price, self.triggered)

    def set_status(self, status: str, now: datetime) -> None:
        self.status = status
        self.stamps["updated_at"] = now
        if status in ENDED_AT:
            self.stamps[ENDED_AT[status]] = now

    def set_hwm(self, hwm: float) -> None:
        """A trailing stop's new high-water mark and the stop it sets."""
        self.hwm = hwm
        self.stop_price = matching.trailing_stop(self.side, hwm, self.trail_price, self.trail_percent)

    def to_json(self, legs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        stamp = self.stamps.get
        updated = stamp("updated_at", self.submitted_at)
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": iso(self.submitted_at),
            "updated_at": iso(updated),
            "submitted_at": iso(self.submitted_at),
            **{name: _iso_or_none(stamp(name)) for name in ENDED_AT.values()},
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": asset_id(self.symbol),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": num(self.qty),
            "filled_qty": num(self.filled_qty),
            "filled_avg_price": num(self.filled_avg_price),
            "order_class": self.order_class,
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": self.position_intent,
            "time_in_force": self.time_in_force,
            "limit_price": num(self.limit_price),
            "stop_price": num(self.stop_price),
            "status": self.status,
            "extended_hours": False,
            "legs": legs,
            "trail_percent": num(self.trail_percent),
            "trail_price": num(self.trail_price),
            "hwm": num(self.hwm),
        }


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


@dataclass(frozen=True)
class Exit:
    """A take-profit (``limit_price``) or stop-loss (``stop_price``, optional ``limit_price``) of a complex order."""

    limit_price: float | None = None
    stop_price: float | None = None


@dataclass(frozen=True)
class OrderRequest:
    """A validated POST /v2/orders body."""

    symbol: str
    qty: float
    side: matching.Side
    type: str
    time_in_force: str
    order_class: str
    client_order_id: str | None
    limit_price: float | None
    stop_price: float | None
    trail_price: float | None
    trail_percent: float | None
    take_profit: Exit | None
    stop_loss: Exit | None

    @property
    def reference_price(self) -> float | None:
        """The price the order commits to, if it names one (for buying power and bracket checks)."""
        return self.limit_price if self.limit_price is not None else self.stop_price


def _price(body: dict[str, Any], name: str, where: str = "") -> float | None:
    value = body.get(name)
    if value is None:
        return None
    price = parse_number(value, f"{where}{name}")
    increment = 0.01 if price >= 1 else 0.0001
    if abs(price / increment - round(price / increment)) > 1e-6:
        raise unprocessable(
            f"invalid {where}{name} {value}. sub-penny increment does not fulfill minimum pricing criteria",
            UNPROCESSABLE,
        )
    return price


def _exit(body: dict[str, Any], name: str) -> Exit | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise unprocessable(f"{name} must be an object")
    return Exit(
        limit_price=_price(value, "limit_price", f"{name}."), stop_price=_price(value, "stop_price", f"{name}.")
    )


def _required(body: dict[str, Any], name: str) -> Any:
    if body.get(name) in (None, ""):
        raise unprocessable(f"{name} is required")
    return body[name]


def _choice(body: dict[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = _required(body, name)
    if value not in choices:
        raise unprocessable(f"invalid {name} {value!r}: the sandbox takes {', '.join(choices)}")
    return value


def parse_order_request(body: Any) -> OrderRequest:
    """Validate a POST /v2/orders body as Alpaca does; a 422 ApiError says what is wrong."""
    if not isinstance(body, dict):
        raise unprocessable("the order must be a JSON object")
    if body.get("notional") is not None:
        raise unprocessable("notional orders are not supported by the sandbox: send qty")
    if body.get("extended_hours"):
        raise unprocessable("extended hours orders are not supported by the sandbox (it trades regular hours)")
    request = OrderRequest(
        symbol=str(_required(body, "symbol")),
        qty=parse_number(_required(body, "qty"), "qty"),
        side=_choice(body, "side", ("buy", "sell")),  # type: ignore[arg-type]
        type=_choice(body, "type", ORDER_TYPES),
        time_in_force=_choice(body, "time_in_force", TIME_IN_FORCE),
        order_class=body.get("order_class") or "simple",
        client_order_id=body.get("client_order_id") or None,
        limit_price=_price(body, "limit_price"),
        stop_price=_price(body, "stop_price"),
        trail_price=_price(body, "trail_price"),
        trail_percent=parse_number(body["trail_percent"], "trail_percent") if body.get("trail_percent") else None,
        take_profit=_exit(body, "take_profit"),
        stop_loss=_exit(body, "stop_loss"),
    )
    if request.client_order_id is not None and len(request.client_order_id) > 128:
        raise unprocessable("client_order_id must be at most 128 characters")
    if request.order_class not in ORDER_CLASSES:
        raise unprocessable(
            f"invalid order_class {request.order_class!r}: the sandbox takes {', '.join(ORDER_CLASSES)}"
        )
    _check_prices(request)
    _check_class(request)
    return request


PRICE_FIELDS = {
    "market": (),
    "limit": ("limit_price",),
    "stop": ("stop_price",),
    "stop_limit": ("limit_price", "stop_price"),
    "trailing_stop": ("trail_price", "trail_percent"),
}


def _check_prices(request: OrderRequest) -> None:
    kind = request.type
    takes = PRICE_FIELDS[kind]
    for name in ("limit_price", "stop_price", "trail_price", "trail_percent"):
        given = getattr(request, name) is not None
        if given and name not in takes and not (request.order_class == "oco" and name == "limit_price"):
            raise unprocessable(f"{name} is not supported for {kind} orders")
        # an OCO's prices are its take_profit and stop_loss
        if not given and kind in ("limit", "stop", "stop_limit") and name in takes and request.order_class != "oco":
            raise unprocessable(f"{name} is required for {kind} orders")
    if kind == "trailing_stop":
        if (request.trail_price is None) == (request.trail_percent is None):
            raise unprocessable("trailing_stop orders need exactly one of trail_price, trail_percent")
        if request.time_in_force not in ("day", "gtc"):
            raise unprocessable("trailing_stop orders take time_in_force day or gtc")
    if request.time_in_force in ("opg", "cls") and kind not in ("market", "limit"):
        raise unprocessable(f"{request.time_in_force} orders must be market or limit orders")


def _check_class(request: OrderRequest) -> None:
    order_class = request.order_class
    if order_class == "simple":
        if request.take_profit or request.stop_loss:
            raise unprocessable("take_profit and stop_loss need order_class bracket, oco or oto")
        return
    if request.time_in_force not in ("day", "gtc"):
        raise unprocessable(f"{order_class} orders must be day or gtc orders")
    allowed = ("limit",) if order_class == "oco" else ("market", "limit")
    if request.type not in allowed:
        raise unprocessable(f"{order_class} orders must be {' or '.join(allowed)} orders")
    if request.take_profit is not None and request.take_profit.limit_price is None:
        raise unprocessable("take_profit.limit_price is required")
    if request.stop_loss is not None and request.stop_loss.stop_price is None:
        raise unprocessable("stop_loss.stop_price is required")
    if order_class in ("bracket", "oco") and (request.take_profit is None or request.stop_loss is None):
        raise unprocessable(f"{order_class} orders require take_profit and stop_loss")
    if order_class == "oto" and (request.take_profit is None) == (request.stop_loss is None):
        raise unprocessable("oto orders require exactly one of take_profit, stop_loss")


def build_orders(request: OrderRequest, now: datetime, status: str) -> list[Order]:
    """The order and its legs (first the order itself), all with fresh ids."""
    main = Order(
        id=str(uuid.uuid4()),
        client_order_id=request.client_order_id or str(uuid.uuid4()),
        symbol=request.symbol,
        side=request.side,
        qty=request.qty,
        type=request.type,
        time_in_force=request.time_in_force,
        order_class=request.order_class,
        status=status,
        submitted_at=now,
        limit_price=request.limit_price,
        stop_price=request.stop_price,
        trail_price=request.trail_price,
        trail_percent=request.trail_percent,
    )
    if request.order_class == "oco":  # the order is the take-profit, its leg the stop-loss, same side
        assert request.take_profit is not None and request.stop_loss is not None
        main.limit_price = request.take_profit.limit_price
        return [main, *_legs(main, [(None, request.stop_loss)], request.side, status)]
    exits = [(request.take_profit, None), (None, request.stop_loss)]
    exits = [(tp, sl) for tp, sl in exits if (tp or sl) is not None]
    exit_side = "sell" if request.side == "buy" else "buy"
    return [main, *_legs(main, exits, exit_side, "held")]  # type: ignore[arg-type]


def _legs(main: Order, exits: list[tuple[Exit | None, Exit | None]], side: matching.Side, status: str) -> list[Order]:
    legs = []
    for take_profit, stop_loss in exits:
        if take_profit is not None:
            kind, limit, stop = "limit", take_profit.limit_price, None
        else:
            assert stop_loss is not None
            kind = "stop" if stop_loss.limit_price is None else "stop_limit"
            limit, stop = stop_loss.limit_price, stop_loss.stop_price
        leg = replace(
            main,
            id=str(uuid.uuid4()),
            client_order_id=str(uuid.uuid4()),
            side=side,
            type=kind,
            status=status,
            limit_price=limit,
            stop_price=stop,
            trail_price=None,
            trail_percent=None,
            legs=[],
            parent=main.id,
            stamps={},
        )
        main.legs.append(leg.id)
        legs.append(leg)
    return legs
