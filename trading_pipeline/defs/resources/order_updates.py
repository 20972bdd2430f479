"""Broker order updates (fills, partial fills, cancels, rejections) for the order-status sensor.

The sensor keeps a cursor (the latest update time it applied, and which updates it saw at exactly that
time), asks for the updates at or after it, and writes each order's status to the journal. Applying an
update twice writes the same status again, so a re-evaluation after a crash is harmless; the cursor only
keeps the sensor from re-reporting work. The simulator's orders settle inside the daily cycle, so its
source reports what the journal already holds; Alpaca reports what the exchange did since the cursor.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
from alpaca.common.enums import Sort
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest
from dagster import ConfigurableResource
from pydantic import Field

from trading_pipeline.defs.resources.alpaca_broker import AlpacaBroker
from trading_pipeline.integrations.alpaca_trading import OPEN_STATUSES
from trading_pipeline.journal import OrderStatus
from trading_pipeline.journal.books import BookJournal

# Alpaca's order statuses in the journal's vocabulary (an order still working is "submitted").
JOURNAL_STATUS: dict[str, str] = {
    **dict.fromkeys(OPEN_STATUSES, OrderStatus.SUBMITTED.value),
    "partially_filled": OrderStatus.PARTIALLY_FILLED.value,
    "filled": OrderStatus.FILLED.value,
    "canceled": OrderStatus.CANCELLED.value,
    "expired": OrderStatus.CANCELLED.value,
    "replaced": OrderStatus.REPLACED.value,
    "rejected": OrderStatus.REJECTED.value,
}


@dataclass(frozen=True)
class OrderUpdate:
    client_order_id: str
    status: str  # the journal's status
    broker_status: str
    filled_qty: float
    updated_at: datetime  # UTC

    @property
    def key(self) -> str:
        """Identifies this state of the order (a later partial fill is a new update)."""
        return f"{self.client_order_id}|{self.broker_status}|{self.filled_qty:g}"


@dataclass(frozen=True)
class OrderCursor:
    """The latest update time applied and the updates seen at exactly that time."""

    since: datetime | None = None
    seen: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | None) -> OrderCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(since=datetime.fromisoformat(data["since"]), seen=frozenset(data["seen"]))

    def serialize(self) -> str:
        return json.dumps({"since": None if self.since is None else self.since.isoformat(), "seen": sorted(self.seen)})

    def new_updates(self, updates: list[OrderUpdate]) -> list[OrderUpdate]:
        """The updates not applied yet: later than ``since``, or at ``since`` but not seen."""
        if self.since is None:
            return list(updates)
        return [
            u for u in updates if u.updated_at > self.since or (u.updated_at == self.since and u.key not in self.seen)
        ]

    def advance(self, applied: list[OrderUpdate]) -> OrderCursor:
        if not applied:
            return self
        latest = max(u.updated_at for u in applied)
        seen = {u.key for u in applied if u.updated_at == latest}
        if latest == self.since:
            seen |= self.seen
        return OrderCursor(since=latest, seen=frozenset(seen))


def apply_updates(book: BookJournal, updates: list[OrderUpdate]) -> tuple[dict[str, str], list[str]]:
    """Write the latest status of each journaled order; return (applied statuses, ids the journal does not know).

    An id the journal does not hold (an order placed by hand in the broker's UI) is reported, not written.
    """
    latest: dict[str, OrderUpdate] = {}
    for update in sorted(updates, key=lambda u: (u.updated_at, u.filled_qty)):
        latest[update.client_order_id] = update
    known = set(book.read("orders")["client_order_id"]) if latest else set()
    statuses = {i: u.status for i, u in latest.items() if i in known}
    book.update_order_status(statuses)
    return statuses, sorted(set(latest) - known)


class OrderUpdates(ConfigurableResource):
    """Where order updates come from."""

    @property
    @abstractmethod
    def provider(self) -> str: ...

    @abstractmethod
    def updates_since(self, book: BookJournal, since: datetime | None) -> list[OrderUpdate]:
        """Updates of ``book``'s orders at or after ``since`` (all when None), oldest first."""


class SimulatedOrderUpdates(OrderUpdates):
    """The simulator settles every order inside the cycle that journals it: its updates are the journal's rows."""

    @property
    def provider(self) -> str:
        return "simulator"

    def updates_since(self, book: BookJournal, since: datetime | None) -> list[OrderUpdate]:
        orders = book.read("orders")
        if since is not None:
            orders = orders[orders["created_at"] >= pd.Timestamp(since)]
        return [
            OrderUpdate(r.client_order_id, r.status, r.status, 0.0, r.created_at.to_pydatetime())
            for r in orders.sort_values("created_at").itertuples(index=False)
        ]


class AlpacaOrderUpdates(OrderUpdates):
    """Alpaca's orders updated since the cursor, through the configured ``AlpacaBroker``'s client.

    Alpaca filters order lists by submission time, not update time, so the query reaches back
    ``lookback_days`` before the cursor (an order submitted days ago may fill today) and the update time
    is filtered here.
    """

    broker: AlpacaBroker
    lookback_days: int = Field(default=7, ge=1, description="How old an order may be and still report updates.")
    page_size: int = Field(default=500, ge=1, le=500, description="Alpaca's maximum per request.")

    @property
    def provider(self) -> str:
        return "alpaca"

    def updates_since(self, book: BookJournal, since: datetime | None) -> list[OrderUpdate]:
        trading = self.broker.connect()
        after = (since or trading.market_clock().now) - timedelta(days=self.lookback_days)  # the broker's time
        client = trading.client
        updates: dict[str, OrderUpdate] = {}
        while True:
            page = client.get_orders(
                GetOrdersRequest(
                    status=QueryOrderStatus.ALL, after=after, direction=Sort.ASC, limit=self.page_size, nested=False
                )
            )
            for order in page:
                status = getattr(order.status, "value", order.status)
                if status not in JOURNAL_STATUS:
                    raise ValueError(f"order {order.client_order_id}: unknown Alpaca status {status!r}")
                stamp = order.updated_at.astimezone(UTC)
                if since is None or stamp >= since:
                    update = OrderUpdate(
                        order.client_order_id, JOURNAL_STATUS[status], status, float(order.filled_qty or 0), stamp
                    )
                    updates[update.key] = update
            if len(page) < self.page_size:
                break
            after = max(o.submitted_at for o in page)  # the next page: orders submitted after this one's last
        return sorted(updates.values(), key=lambda u: (u.updated_at, u.client_order_id))
