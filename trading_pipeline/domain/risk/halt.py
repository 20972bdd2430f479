"""The kill switch: a halted book takes no new entry; its pending entries are cancelled and, if asked, its positions
are sold at the next open.

A halt is an operator's decision at an instant, kept in the journal (``journal.halts``), not in the book state: a
backfill that recomputes a session's state must not lift it, and a book can be halted before it ever traded. A run
that starts while its book is halted sizes no buy (rule ``halted``; the halt and the book's runs take the same lock,
so a halt never changes under a running cycle), and every order records whether its book was halted when it was
decided (``Order.halted``), so the verification refuses a halted buy however it got past the sizing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from trading_pipeline.domain.book import BookState, Order, RiskEvent, client_order_id
from trading_pipeline.domain.ledger import QTY_TOLERANCE
from trading_pipeline.domain.risk.events import risk_event

HALT_RULE = "halted"
# The intent of the market sells that flatten a halted book: with the book, session and symbol, their client order id.
FLATTEN_INTENT = "halt:flatten"


def require_signature(what: str, operator: str, reason: str) -> None:
    """An operator's action on a book names who took it and why (both are journaled)."""
    for name, value in (("operator", operator), ("reason", reason)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{what} needs an operator and a reason; {name} is {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Halt:
    """A book's halt in force: who, when (UTC), why, and whether its positions were to be flattened."""

    book: str
    operator: str
    reason: str
    halted_at: datetime
    flatten: bool = False

    def __post_init__(self) -> None:
        require_signature(f"a halt of book {self.book!r}", self.operator, self.reason)
        if self.halted_at.tzinfo is None:
            raise ValueError(f"a halt's time must be timezone-aware, got {self.halted_at!r}")

    def describe(self) -> str:
        return f"halted by {self.operator} at {self.halted_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC: {self.reason}"


def drop_entries(state: BookState) -> tuple[BookState, list[RiskEvent]]:
    """The book without its pending buys (where the book itself is the order book: the simulator), one ``cancelled``
    event each, its message led by the order's id."""
    entries = [o for o in state.pending if o.side == "buy"]
    events = [
        risk_event(o.session, o.symbol, HALT_RULE, "cancelled", o.qty, None, f"{o.client_order_id}: entry cancelled")
        for o in entries
    ]
    return replace(state, pending=tuple(o for o in state.pending if o.side != "buy")), events


def flatten_orders(state: BookState) -> list[Order]:
    """Market sells, for the next open, of what each position holds beyond the market sells already pending for
    it (a protective exit held at a broker is no sell of the position: flattening cancels it first).

    They are decided at the book's last close (a book that never closed a session holds nothing) and carry the
    book's snapshot like any order, marked ``halted``.
    """
    session = state.last_session
    if session is None:
        return []
    selling: dict[str, float] = {}
    for order in state.pending:
        if order.side == "sell" and order.order_type == "market":
            selling[order.symbol] = selling.get(order.symbol, 0.0) + order.qty
    orders = []
    for symbol in sorted(state.positions):
        held = state.positions[symbol]
        qty = held.qty - selling.get(symbol, 0.0)
        if qty <= QTY_TOLERANCE:
            continue
        orders.append(
            Order(
                client_order_id=client_order_id(state.book, session, symbol, FLATTEN_INTENT),
                book=state.book,
                session=session,
                symbol=symbol,
                side="sell",
                qty=qty,
                ref_price=held.last_price,
                stop_price=None,
                atr=None,
                confidence=1.0,
                strategy="halt",
                reason=f"flatten the halted book: sell {qty:g} at the next open",
                equity_at_decision=state.equity,
                cash_at_decision=state.cash,
                position_qty_before=held.qty,
                open_positions_before=len(state.positions),
                halted=True,
            )
        )
    return orders


def halt_event(session: date, halt: Halt) -> RiskEvent:
    """The halt itself, journaled with the book's last session (``info``: it blocks no single order)."""
    return risk_event(session, None, HALT_RULE, "info", None, None, halt.describe())
