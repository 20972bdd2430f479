"""Alpaca trading (alpaca-py TradingClient): order translation, idempotent submission, outcomes.

Idempotence: every order carries a deterministic client_order_id (``domain.book.client_order_id``), and
Alpaca refuses a second order with an id it already has. ``submit`` therefore treats "client_order_id must
be unique", and any submission whose answer was lost (5xx or no response after the retries), by looking
the order up by its client_order_id: found, it carries on with that order, provided it is the same order
(symbol, side, quantity, type, prices; a different one is an ``OrderMismatch``, never adopted); not found,
the error stands and a re-execution submits it again. A crash between submitting and journaling thus never
duplicates. Prices go out on the venue's tick, rounded for their side (``domain.ticks``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from alpaca.trading.enums import OrderClass, OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetCalendarRequest,
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from trading_pipeline.domain.ticks import round_to_tick
from trading_pipeline.integrations.alpaca_client import AlpacaRequestError, GovernedTradingClient

OrderKind = Literal["market", "limit", "stop", "stop_limit", "trailing_stop"]
OrderClassName = Literal["simple", "bracket", "oto", "oco"]
Tif = Literal["day", "opg", "cls", "gtc"]
TIME_IN_FORCE: tuple[str, ...] = ("day", "opg", "cls", "gtc")
ORDER_KINDS: tuple[str, ...] = ("market", "limit", "stop", "stop_limit", "trailing_stop")

# Alpaca order statuses by what they mean for the book.
OPEN_STATUSES = frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "accepted_for_bidding",
        "partially_filled",
        "pending_cancel",
        "pending_replace",
        "pending_review",
        "held",
        "calculated",
        "stopped",
        "suspended",
        "done_for_day",
    }
)
CLOSED_STATUSES = frozenset({"filled", "canceled", "expired", "replaced", "rejected"})

NEW_YORK = ZoneInfo("America/New_York")
LIVE_CONFIRM_VARIABLE = "TRADING_LIVE_CONFIRM"
LIVE_CONFIRM_VALUE = "I-ACCEPT-REAL-MONEY-ORDERS"


class LiveTradingRefused(RuntimeError):
    """Live trading was asked for without both switches, or an API address does not match the mode."""


# The live API's host; a paper broker may never talk to it, a live broker to nothing else.
LIVE_HOSTS = frozenset({"api.alpaca.markets"})
DEFAULT_URLS = {"paper": "https://paper-api.alpaca.markets", "live": "https://api.alpaca.markets"}


def check_live_guard(mode: str, url: str | None, env: Mapping[str, str] | None = None) -> None:
    """Refuse unless the mode and the trading API's host agree (by the parsed host name, not a substring) and live
    trading also carries ``TRADING_LIVE_CONFIRM`` with the exact phrase (the profile being the first switch)."""
    env = os.environ if env is None else env
    if mode not in ("paper", "live"):
        raise LiveTradingRefused(f"the broker's mode must be 'paper' or 'live', got {mode!r}")
    host = (urlsplit(url or DEFAULT_URLS[mode]).hostname or "").lower().rstrip(".")
    if mode == "paper" and host in LIVE_HOSTS:
        raise LiveTradingRefused(f"the trading API {host} is Alpaca's live API but the broker trades paper: refused")
    if mode == "live" and host not in LIVE_HOSTS:
        raise LiveTradingRefused(f"a live broker only talks to {', '.join(sorted(LIVE_HOSTS))}, not {host}: refused")
    if mode == "live" and env.get(LIVE_CONFIRM_VARIABLE) != LIVE_CONFIRM_VALUE:
        raise LiveTradingRefused(
            f"live trading refused: it also needs {LIVE_CONFIRM_VARIABLE}={LIVE_CONFIRM_VALUE}; nothing was sent"
        )


def _positive(name: str, value: float | None) -> None:
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class OrderSpec:
    """One order as the project means it; ``to_request`` turns it into alpaca-py's request.

    The order class follows from the exits it carries unless given: a bracket is an entry (market or limit)
    with ``take_profit`` and ``stop_loss`` legs, an oto an entry with ``stop_loss`` only; an oco is an exit pair,
    a limit at ``take_profit`` one-cancels-other with a stop at ``stop_loss``. Alpaca accepts them only with day
    or gtc. opg (at the open) and cls (at the close) apply to simple market and limit orders.
    """

    client_order_id: str
    symbol: str
    side: Literal["buy", "sell"]
    qty: float
    kind: OrderKind = "market"
    time_in_force: Tif = "day"
    limit_price: float | None = None
    stop_price: float | None = None
    trail_percent: float | None = None
    trail_price: float | None = None
    take_profit: float | None = None
    stop_loss: float | None = None
    order_class: OrderClassName | None = None

    def __post_init__(self) -> None:
        if not self.client_order_id or len(self.client_order_id) > 128:
            raise ValueError(f"client_order_id must be 1..128 characters, got {self.client_order_id!r}")
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be buy or sell, got {self.side!r}")
        if self.kind not in ORDER_KINDS:
            raise ValueError(f"order kind must be one of {ORDER_KINDS}, got {self.kind!r}")
        if self.time_in_force not in TIME_IN_FORCE:
            raise ValueError(f"time_in_force must be one of {TIME_IN_FORCE}, got {self.time_in_force!r}")
        for name in ("qty", "limit_price", "stop_price", "trail_percent", "trail_price", "take_profit", "stop_loss"):
            _positive(name, getattr(self, name))
        needs = {"limit": ("limit_price",), "stop": ("stop_price",), "stop_limit": ("limit_price", "stop_price")}
        # An oco's limit is its take-profit (Alpaca and alpaca-py accept it without a top-level limit_price).
        required = () if self.order_class == "oco" else needs.get(self.kind, ())
        for name in required:
            if getattr(self, name) is None:
                raise ValueError(f"{self.symbol}: a {self.kind} order needs {name}")
        for name in ("limit_price", "stop_price"):
            if getattr(self, name) is not None and name not in needs.get(self.kind, ()):
                raise ValueError(f"{self.symbol}: a {self.kind} order takes no {name}")
        if self.kind == "trailing_stop" and (self.trail_percent is None) == (self.trail_price is None):
            raise ValueError(f"{self.symbol}: a trailing stop needs exactly one of trail_percent, trail_price")
        if self.kind != "trailing_stop" and (self.trail_percent is not None or self.trail_price is not None):
            raise ValueError(f"{self.symbol}: only a trailing stop takes trail_percent/trail_price")
        if self.time_in_force in ("opg", "cls") and self.kind not in ("market", "limit"):
            raise ValueError(f"{self.symbol}: time in force {self.time_in_force} applies to market and limit orders")
        self._check_class()

    @property
    def klass(self) -> OrderClassName:
        """The order class: as given, else bracket (both exits), oto (a stop only) or simple (none)."""
        if self.order_class is not None:
            return self.order_class
        if self.take_profit is not None:
            return "bracket"
        return "simple" if self.stop_loss is None else "oto"

    @property
    def is_bracket(self) -> bool:
        return self.klass == "bracket"

    def _check_class(self) -> None:
        klass = self.klass
        exits = {"simple": (False, False), "bracket": (True, True), "oco": (True, True), "oto": (False, True)}
        if klass not in exits:
            raise ValueError(f"{self.symbol}: order class must be one of {sorted(exits)}, got {klass!r}")
        if (self.take_profit is not None, self.stop_loss is not None) != exits[klass]:
            needs = {"simple": "no take_profit nor stop_loss", "bracket": "both take_profit and stop_loss",
                     "oco": "both take_profit and stop_loss", "oto": "a stop_loss and no take_profit"}  # fmt: skip
            raise ValueError(f"{self.symbol}: a{'n' if klass[0] in 'aeio' else ''} {klass} order needs {needs[klass]}")
        if klass == "simple":
            return
        if klass == "oco" and self.kind != "limit":
            raise ValueError(f"{self.symbol}: an oco is a limit order (its take-profit) with a stop-loss leg")
        if klass != "oco" and self.kind not in ("market", "limit"):
            raise ValueError(f"{self.symbol}: a {klass}'s entry must be a market or limit order")
        if self.time_in_force not in ("day", "gtc"):
            raise ValueError(f"{self.symbol}: Alpaca accepts {klass} orders only with time in force day or gtc")
        if self.take_profit is not None:
            protects = self.side if klass != "oco" else self.exit_side  # the side of the position protected
            low, high = (self.stop_loss, self.take_profit) if protects == "buy" else (self.take_profit, self.stop_loss)
            if not low < high:  # type: ignore[operator]
                raise ValueError(
                    f"{self.symbol}: a {klass} protecting a {'long' if protects == 'buy' else 'short'} needs "
                    f"stop_loss {'<' if protects == 'buy' else '>'} take_profit, got stop_loss={self.stop_loss}, "
                    f"take_profit={self.take_profit}"
                )

    @property
    def exit_side(self) -> Literal["buy", "sell"]:
        return "sell" if self.side == "buy" else "buy"

    def ticked(self) -> OrderSpec:
        """The order with its prices on the venue's tick: its own by its side, a bracket's legs by theirs (a buy
        limit never above, a sell limit never below, a protective stop never further from the market than asked)."""

        def tick(price: float | None, side: str) -> float | None:
            return None if price is None else round_to_tick(price, side)

        legs_side = self.side if self.klass == "oco" else self.exit_side  # an oco's legs are the order's own side
        return replace(
            self,
            limit_price=tick(self.limit_price, self.side),
            stop_price=tick(self.stop_price, self.side),
            take_profit=tick(self.take_profit, legs_side),
            stop_loss=tick(self.stop_loss, legs_side),
        )

    def to_request(self) -> OrderRequest:
        spec = self.ticked()
        common = {
            "symbol": spec.symbol,
            "qty": spec.qty,
            "side": OrderSide(spec.side),
            "time_in_force": TimeInForce(spec.time_in_force),
            "client_order_id": spec.client_order_id,
        }
        if spec.klass != "simple":
            common["order_class"] = OrderClass(spec.klass)
            common["stop_loss"] = StopLossRequest(stop_price=spec.stop_loss)
            if spec.take_profit is not None:
                common["take_profit"] = TakeProfitRequest(limit_price=spec.take_profit)
        if spec.kind == "market":
            return MarketOrderRequest(**common)
        if spec.kind == "limit":
            return LimitOrderRequest(**common, limit_price=spec.limit_price)
        if spec.kind == "stop":
            return StopOrderRequest(**common, stop_price=spec.stop_price)
        if spec.kind == "stop_limit":
            return StopLimitOrderRequest(**common, stop_price=spec.stop_price, limit_price=spec.limit_price)
        return TrailingStopOrderRequest(**common, trail_percent=spec.trail_percent, trail_price=spec.trail_price)


@dataclass(frozen=True)
class BrokerOrder:
    """What Alpaca says about one order, normalized to floats and plain strings."""

    broker_id: str
    client_order_id: str
    symbol: str
    side: str
    qty: float
    filled_qty: float
    filled_avg_price: float | None
    status: str
    kind: str = "market"
    limit_price: float | None = None
    stop_price: float | None = None
    order_class: str = "simple"
    filled_at: datetime | None = None
    replaced_by: str | None = None
    legs: tuple[BrokerOrder, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @classmethod
    def from_sdk(cls, order) -> BrokerOrder:
        def num(value) -> float | None:
            return None if value is None else float(value)

        status = getattr(order.status, "value", order.status)
        if status not in OPEN_STATUSES | CLOSED_STATUSES:
            raise ValueError(f"order {order.client_order_id}: unknown Alpaca status {status!r}")
        return cls(
            broker_id=str(order.id),
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=getattr(order.side, "value", order.side),
            qty=float(order.qty),
            filled_qty=float(order.filled_qty or 0.0),
            filled_avg_price=num(order.filled_avg_price),
            status=status,
            kind=getattr(order.order_type, "value", order.order_type) or "market",
            limit_price=num(order.limit_price),
            stop_price=num(order.stop_price),
            order_class=getattr(order.order_class, "value", order.order_class) or "simple",
            filled_at=order.filled_at,
            replaced_by=None if order.replaced_by is None else str(order.replaced_by),
            legs=tuple(cls.from_sdk(leg) for leg in order.legs or ()),
        )

    def differences(self, spec: OrderSpec) -> list[str]:
        """How this order differs from ``spec`` (sent under the same client_order_id): empty if it is that order."""
        sent = spec.ticked()
        limit = sent.take_profit if sent.klass == "oco" else sent.limit_price
        wanted = {"symbol": sent.symbol, "side": sent.side, "qty": sent.qty, "type": sent.kind,
                  "limit_price": limit, "stop_price": sent.stop_price}  # fmt: skip
        found = {"symbol": self.symbol, "side": self.side, "qty": self.qty, "type": self.kind,
                 "limit_price": self.limit_price, "stop_price": self.stop_price}  # fmt: skip
        return [f"{k} {found[k]} (asked {wanted[k]})" for k in wanted if not _same(found[k], wanted[k])]


class OrderMismatch(ValueError):
    """The broker holds a different order under the client_order_id this run sends: never adopted silently."""


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


RejectionReason = Literal["insufficient_buying_power", "unknown_symbol", "not_tradable", "invalid_order"]


@dataclass(frozen=True)
class Rejection:
    reason: RejectionReason
    message: str


@dataclass(frozen=True)
class SubmitOutcome:
    """Exactly one of ``order`` (accepted, possibly found as already placed) and ``rejection``."""

    client_order_id: str
    order: BrokerOrder | None = None
    rejection: Rejection | None = None
    already_placed: bool = False


def classify_rejection(error: AlpacaRequestError) -> Rejection | None:
    """A 4xx refusal of an order as a clear reason; None when the error is not a refusal of the order."""
    if error.status is None or not 400 <= error.status < 500 or error.status in (401, 404, 429):
        return None
    text = error.message.lower()
    if "buying power" in text or "insufficient" in text:
        return Rejection("insufficient_buying_power", error.message)
    if "not found" in text or "could not find" in text or "unknown" in text:
        return Rejection("unknown_symbol", error.message)
    if "not tradable" in text or "halt" in text or "not active" in text or "inactive" in text:
        return Rejection("not_tradable", error.message)
    return Rejection("invalid_order", error.message)


def _is_conflict(error: AlpacaRequestError) -> bool:
    return error.status in (409, 422) and "client_order_id" in error.message.lower()


@dataclass(frozen=True)
class MarketClock:
    now: datetime
    is_open: bool
    latest_closed: date | None
    next_open: datetime
    next_close: datetime


@dataclass(frozen=True)
class Account:
    cash: float
    buying_power: float
    equity: float
    status: str
    trading_blocked: bool


class AlpacaTrading:
    """The project's view of an Alpaca account: account, clock, calendar, assets, orders, positions."""

    def __init__(self, client: GovernedTradingClient) -> None:
        self.client = client

    def account(self) -> Account:
        a = self.client.get_account()
        return Account(
            cash=float(a.cash or 0.0),
            buying_power=float(a.buying_power or 0.0),
            equity=float(a.equity or 0.0),
            status=getattr(a.status, "value", str(a.status)),
            trading_blocked=bool(a.trading_blocked or a.account_blocked),
        )

    def market_clock(self) -> MarketClock:
        """The broker's clock, whether the market is open, and the latest session closed by now."""
        clock = self.client.get_clock()
        now_local = clock.timestamp.astimezone(NEW_YORK).replace(tzinfo=None)  # the calendar's times are New York's
        days = self.client.get_calendar(
            GetCalendarRequest(start=now_local.date() - timedelta(days=7), end=now_local.date())
        )
        closed = [d.date for d in days if d.close <= now_local]
        return MarketClock(
            now=clock.timestamp,
            is_open=clock.is_open,
            latest_closed=max(closed) if closed else None,
            next_open=clock.next_open,
            next_close=clock.next_close,
        )

    def asset_tradable(self, symbol: str) -> Rejection | None:
        """None if the symbol can be traded now; otherwise why not (unknown, inactive or halted)."""
        try:
            asset = self.client.get_asset(symbol)
        except AlpacaRequestError as error:
            if error.status == 404:
                return Rejection("unknown_symbol", f"asset {symbol} not found")
            raise
        status = getattr(asset.status, "value", asset.status)
        if status != "active" or not asset.tradable:
            return Rejection("not_tradable", f"asset {symbol} is {status}, tradable={asset.tradable}")
        return None

    def order(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client_order_id, or None if Alpaca has none."""
        try:
            return BrokerOrder.from_sdk(self.client.get_order_by_client_id(client_order_id))
        except AlpacaRequestError as error:
            if error.status == 404:
                return None
            raise

    def order_by_id(self, broker_id: str) -> BrokerOrder:
        """The order with Alpaca's own id (a replacement's, or a leg's), with its legs."""
        return BrokerOrder.from_sdk(self.client.get_order_by_id(broker_id, GetOrderByIdRequest(nested=True)))

    def latest(self, order: BrokerOrder) -> BrokerOrder:
        """The order that ``order`` became: itself, or the end of its chain of replacements."""
        seen = {order.broker_id}
        while order.status == "replaced" and order.replaced_by is not None:
            order = self.order_by_id(order.replaced_by)
            if order.broker_id in seen:
                raise RuntimeError(f"Alpaca's replacements of {order.client_order_id} loop")
            seen.add(order.broker_id)
        return order

    def open_orders(self, symbols: list[str] | None = None) -> list[BrokerOrder]:
        """Every open order of the account, a complex order's working legs as orders of their own (not nested:
        a leg stays open after its entry filled and left the open list), optionally only of ``symbols``."""
        found: dict[str, BrokerOrder] = {}
        after = None
        while True:  # oldest first, a page of 500 at a time, each page after the last one's submission time
            request = GetOrdersRequest(
                status=QueryOrderStatus.OPEN, nested=False, symbols=symbols, limit=500, direction="asc", after=after
            )
            page = self.client.get_orders(request)
            found |= {str(o.id): BrokerOrder.from_sdk(o) for o in page}
            if len(page) < 500:
                return [o for o in found.values() if o.is_open]
            after = page[-1].submitted_at

    def move_stop(self, order: BrokerOrder, stop_price: float, client_order_id: str) -> BrokerOrder:
        """Replace the stop of an open stop order (an OCO's or a bracket's stop leg included) at ``stop_price``,
        the replacement carrying ``client_order_id``. A replacement that already happened (a retried request
        whose answer was lost) is found under that id rather than attempted twice."""
        existing = self.order(client_order_id)
        if existing is not None:
            return existing
        request = ReplaceOrderRequest(stop_price=round_to_tick(stop_price, order.side), client_order_id=client_order_id)
        try:
            return BrokerOrder.from_sdk(self.client.replace_order_by_id(order.broker_id, request))
        except AlpacaRequestError as error:
            if error.retryable and (existing := self.order(client_order_id)) is not None:
                return existing
            raise

    def submit(self, spec: OrderSpec) -> SubmitOutcome:
        """Place ``spec`` once, whatever happened to an earlier attempt with the same client_order_id."""
        try:
            return SubmitOutcome(
                spec.client_order_id, order=BrokerOrder.from_sdk(self.client.submit_order(spec.to_request()))
            )
        except AlpacaRequestError as error:
            if _is_conflict(error) or error.retryable:
                existing = self.order(spec.client_order_id)
                if existing is not None:
                    differences = existing.differences(spec)
                    if differences:
                        raise OrderMismatch(
                            f"{spec.client_order_id}: Alpaca already holds this client_order_id for another order: "
                            f"{', '.join(differences)}; cancel it at the broker or let the session's orders stand"
                        ) from None
                    return SubmitOutcome(spec.client_order_id, order=existing, already_placed=True)
                raise
            rejection = classify_rejection(error)
            if rejection is None:
                raise
            return SubmitOutcome(spec.client_order_id, rejection=rejection)

    def cancel(self, client_order_id: str) -> BrokerOrder:
        """Cancel an open order; an order that already filled or closed is returned as it is."""
        order = self.order(client_order_id)
        if order is None:
            raise ValueError(f"cannot cancel {client_order_id}: Alpaca has no such order")
        if order.is_open:
            try:
                self.client.cancel_order_by_id(order.broker_id)
            except AlpacaRequestError as error:
                if error.status != 422:  # 422: no longer cancelable (it filled or closed meanwhile)
                    raise
            order = self.order(client_order_id)
            if order is None:
                raise RuntimeError(f"{client_order_id}: Alpaca lost the order while cancelling it")
        return order

    def positions(self) -> dict[str, float]:
        """Signed quantity per symbol (short positions negative)."""
        out: dict[str, float] = {}
        for p in self.client.get_all_positions():
            side = getattr(p.side, "value", p.side)
            out[p.symbol] = float(p.qty) * (-1.0 if side == "short" and float(p.qty) > 0 else 1.0)
        return out
