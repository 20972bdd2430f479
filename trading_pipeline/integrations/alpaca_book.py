"""A book kept at Alpaca: what the broker did becomes the book's settlement, and the book's decisions become
orders, each entry with its protective exits, each position with its exit set (``domain.protection``).

Settlement reads and never writes, so sizing can decide on the very book execution will carry: every
pending order is looked up by its client_order_id (following Alpaca's chain of replacements), its new
executions booked at the broker's price, and the book marked at the session's close. An execution after the
session's close belongs to the next session (a session caught up late books only what happened by its close).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import pandas as pd

from trading_pipeline.domain import calendar, protection
from trading_pipeline.domain.book import BookState, Fill, Order, RiskEvent, client_order_id, compute_equity, fill_id
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.engine import PricePanels, Settlement
from trading_pipeline.domain.ledger import QTY_TOLERANCE, apply_executions
from trading_pipeline.domain.simulator import close_session
from trading_pipeline.integrations.alpaca_trading import AlpacaTrading, BrokerOrder, OrderSpec

CASH_TOLERANCE = 0.005
STOP_KINDS = frozenset({"stop", "stop_limit", "trailing_stop"})


class UnknownPositions(RuntimeError):
    """A new book's account already holds positions the book did not open: it will not adopt them silently."""


def execution_fill_id(client_order_id: str, filled_qty: float, total_qty: float) -> str:
    """The id of the fill that brought an order to ``filled_qty``: the simulator's id when it filled at once,
    one id per cumulative quantity for partial fills, so re-reading the same broker state gives the same ids."""
    base = fill_id(client_order_id)
    return base if abs(filled_qty - total_qty) <= QTY_TOLERANCE else f"{base}-{filled_qty:g}"


def event(session: date, order: Order, rule: str, action: str, qty: float | None, message: str) -> RiskEvent:
    """An event about one order; its message starts with the order's id (the journal's statuses read it)."""
    return RiskEvent(
        session=session,
        symbol=order.symbol,
        rule=rule,
        action=action,  # type: ignore[arg-type]
        value=qty,
        limit=None,
        message=f"{order.client_order_id}: {message}",
    )


def _row(panel: pd.DataFrame, session: date) -> dict[str, float]:
    stamp = pd.Timestamp(session)
    if stamp not in panel.index:
        raise ValueError(f"no prices for session {session}")
    return {str(k): float(v) for k, v in panel.loc[stamp].items() if pd.notna(v)}


def opening_book(trading: AlpacaTrading, book: str) -> BookState:
    """A new book on an account of its own starts from the account's cash, and only from an account without
    positions: the book would not know their stops, so it cannot protect or size them."""
    held = {s: q for s, q in trading.positions().items() if abs(q) > QTY_TOLERANCE}
    if held:
        listed = ", ".join(f"{s} {q:g}" for s, q in sorted(held.items()))
        raise UnknownPositions(
            f"book {book!r} is new but its Alpaca account already holds {listed}: close them at the broker, "
            "or declare the book as sharing the account (its own capital, account limits combined)"
        )
    return BookState.initial(book, trading.account().cash)


def settle(
    trading: AlpacaTrading,
    state: BookState,
    session: date,
    prices: PricePanels,
    costs: CostModel,
    cash_from_account: bool,
) -> Settlement:
    """``session`` settled as Alpaca reports it; nothing is sent. With ``cash_from_account`` (the book is its
    account's only book) a new book starts from the account and the book's cash is the account's whenever every
    known execution is booked (a difference, dividends or fees, is journaled as ``cash_synced``)."""
    if cash_from_account and state.last_session is None and not state.positions and not state.pending:
        state = opening_book(trading, state.book)
    close_at = calendar.session_close(session)
    opens = _row(prices.opens, session)
    executions: list[tuple[Order, Fill]] = []
    pending: list[Order] = []
    events: list[RiskEvent] = []
    renamed: list[Order] = []  # exits replaced at the broker outside the cycle, journaled under their new ids
    deferred = 0
    for order in state.pending:
        placed = trading.order(order.client_order_id)
        if placed is None:
            # Not found is not cancelled: the order was acknowledged when it was placed. It stays pending and is
            # asked for again next run; the reconciliation check shows any difference meanwhile.
            pending.append(order)
            events.append(
                event(session, order, "broker_order_not_found", "info", order.qty,
                      "Alpaca did not find this client_order_id now: kept pending, asked again next run")
            )  # fmt: skip
            continue
        if placed.status == "replaced":
            latest = trading.latest(placed)
            events.append(
                event(session, order, "exit_replaced", "info", order.qty,
                      f"replaced at the broker by {latest.client_order_id} (stop {latest.stop_price})")
            )  # fmt: skip
            order = replace(
                order, client_order_id=latest.client_order_id, stop_price=latest.stop_price, session=session
            )
            renamed.append(order)
            placed = latest
        if placed.filled_at is not None and pd.Timestamp(placed.filled_at) > close_at:
            pending.append(order)  # it traded after this session's close: the next session books it
            deferred += 1
            continue
        booked = max(placed.qty - order.qty, 0.0)  # the broker may have resized it (a leg, to a partial entry)
        new = placed.filled_qty - booked
        if new > QTY_TOLERANCE:
            executions.append((order, _fill(order, placed, new, session, opens, costs)))
        left = placed.qty - placed.filled_qty
        if left <= QTY_TOLERANCE:
            continue
        if placed.is_open:
            pending.append(replace(order, qty=left))
        elif protection.is_exit(order):
            events.append(
                event(session, order, "exit_closed", "info", left,
                      f"{placed.status} at the broker (its partner filled, or its set was cancelled)")
            )  # fmt: skip
        else:
            action = "rejected" if placed.status == "rejected" else "cancelled"
            events.append(
                event(session, order, f"broker_{placed.status}", action, left,
                      f"Alpaca closed the order {placed.status} with {left:g} unfilled")
            )  # fmt: skip
    settled, booking_events = apply_executions(state, session, executions)
    marked = close_session(settled, session, _row(prices.closes, session), _row(prices.highs, session))
    if cash_from_account and not deferred:
        marked, synced = _cash_from_account(trading, marked, session)
        events.extend(synced)
    return Settlement(
        replace(marked, pending=tuple(pending)),
        tuple(f for _, f in executions),
        (*events, *booking_events),
        tuple(renamed),
    )


def _fill(order: Order, placed: BrokerOrder, qty: float, session: date, opens: dict, costs: CostModel) -> Fill:
    """An execution booked at Alpaca's cumulative ``filled_avg_price``: exact for an order that fills between
    two runs (the usual case), approximate for the later part of a partial fill (Alpaca's order carries no
    per-execution price). Slippage is measured from the open, or from an exit's own level."""
    price = float(placed.filled_avg_price)  # type: ignore[arg-type]
    reference = opens.get(order.symbol, order.ref_price)
    if protection.is_exit(order):
        reference = order.stop_price if order.order_type == "stop" else order.take_profit
    return Fill(
        fill_id=execution_fill_id(order.client_order_id, placed.filled_qty, placed.qty),
        client_order_id=order.client_order_id,
        book=order.book,
        session=session,
        symbol=order.symbol,
        side=order.side,
        qty=qty,
        price=price,
        commission=costs.commission(qty),
        slippage=qty * abs(price - (reference or price)),
    )


def _cash_from_account(trading: AlpacaTrading, state: BookState, session: date) -> tuple[BookState, list[RiskEvent]]:
    cash = trading.account().cash
    difference = cash - state.cash
    if abs(difference) <= CASH_TOLERANCE:
        return state, []
    synced = replace(state, cash=cash, equity=compute_equity(cash, state.positions))
    return synced, [
        RiskEvent(
            session=session,
            symbol=None,
            rule="cash_synced",
            action="info",
            value=cash,
            limit=state.cash,
            message=f"the account's cash differs from the book's by {difference:+,.2f} (fees, dividends, "
            "executions outside the book): the book takes the account's",
        )
    ]


@dataclass
class Cycle:
    """One session's orders at the broker: what is still working, what was placed, what happened."""

    trading: AlpacaTrading
    session: date
    state: BookState  # settled, marked at the close
    entry_time_in_force: str
    check_assets: bool
    working: list[Order] = field(default_factory=list)
    placed: list[Order] = field(default_factory=list)  # the session's orders that reached the broker
    exits: list[Order] = field(default_factory=list)  # exit orders placed this session (legs, sets, moved stops)
    events: list[RiskEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.working = list(self.state.pending)

    def run(self, orders: Sequence[Order]) -> BookState:
        """Cancel what no longer stands, send the session's orders, then protect every position kept."""
        orders = [*orders, *self._time_stops(orders)]
        sold = {o.symbol for o in orders if o.side == "sell"}
        self._cancel_unfilled_entries()
        self.cancel_exits(sold, "cancelled before the cycle's sell of the position")
        for order in sorted(orders, key=lambda o: (o.side != "sell", o.symbol)):  # sells first free buying power
            self.submit(order)
        needs = protection.wanted(replace(self.state, pending=()))
        kept = [o for o in self.working if protection.is_exit(o)]
        for action in protection.plan(needs, kept, leave=sorted(sold)):
            self._apply(action)
        return replace(self.state, pending=(*self.working, *self.placed, *self.exits))

    # ---- what no longer stands ---------------------------------------------------------------------------------
    def _cancel_unfilled_entries(self) -> None:
        """An entry still working after the open it was sent for is stale: the decision was for that open. Its
        legs go with it, unless part of it filled: then they protect that part (Alpaca resizes them to it)."""
        for entry in [o for o in self.working if o.side == "buy"]:
            got = self.trading.cancel(entry.client_order_id)
            legs = [o for o in self.working if o.parent == entry.client_order_id]
            unbooked = got.filled_qty - (got.qty - entry.qty)
            if unbooked <= QTY_TOLERANCE:
                self.working.remove(entry)  # else the next settlement books what it did
            for leg in legs:
                self.working.remove(leg)
                if got.filled_qty > QTY_TOLERANCE:
                    now = self.trading.latest(self._known(leg))
                    if now.is_open:
                        self.working.append(
                            replace(leg, client_order_id=now.client_order_id, qty=now.qty - now.filled_qty)
                        )
                else:
                    self.trading.cancel(leg.client_order_id)
            left = got.qty - got.filled_qty
            self.events.append(event(self.session, entry, "entry_unfilled", "cancelled", left,
                                     f"{left:g} did not fill at the open it was decided for: cancelled"))  # fmt: skip

    def cancel_exits(self, symbols: set[str], why: str) -> None:
        """Cancel the exit sets of ``symbols`` (their shares are about to be sold)."""
        exits = [o for o in self.working if protection.is_exit(o) and o.symbol in symbols]
        for order in protection.group_sets(exits):
            self._cancel(order, "exit_cancelled", why)

    def _cancel(self, order: Order, rule: str, message: str) -> None:
        """Cancel ``order`` with its set (an entry's legs, an OCO's partner). A member that executed meanwhile
        stays working, so the next settlement books what it did."""
        group = order.parent or order.client_order_id
        members = [o for o in self.working if group in (o.client_order_id, o.parent)] or [order]
        for member in members:
            got = self.trading.cancel(member.client_order_id)
            unbooked = got.filled_qty - (got.qty - member.qty)
            if unbooked > QTY_TOLERANCE:
                message += f" ({member.client_order_id} executed {unbooked:g} first: booked next session)"
            elif member in self.working:
                self.working.remove(member)
        action = "info" if protection.is_exit(order) else "cancelled"
        self.events.append(event(self.session, order, rule, action, order.qty, message))

    # ---- the session's orders ----------------------------------------------------------------------------------
    def _time_stops(self, orders: Sequence[Order]) -> list[Order]:
        """Positions held their maximum number of sessions leave at the next open (the simulator's time stop)."""
        selling = {o.symbol for o in orders if o.side == "sell"}
        return [
            exit_order(self.state, self.session, p.symbol, "market", p.qty, None, None, None, "exit:time_stop",
                       f"time_stop after {p.sessions_held} sessions held")
            for p in self.state.positions.values()
            if p.max_holding_sessions is not None
            and p.sessions_held >= p.max_holding_sessions
            and p.symbol not in selling
        ]  # fmt: skip

    def submit(self, order: Order) -> None:
        refusal = self.trading.asset_tradable(order.symbol) if self.check_assets else None
        legs: Sequence[BrokerOrder] = ()
        if refusal is None:
            spec = self._spec(order)
            outcome = self.trading.submit(spec)
            refusal = outcome.rejection
            if outcome.order is not None and spec.klass != "simple":
                legs = self._legs(outcome.order)
        if refusal is not None:
            self.events.append(event(self.session, order, f"broker_{refusal.reason}", "rejected", order.qty,
                                     refusal.message))  # fmt: skip
            return
        (self.exits if order.strategy == "position_management" else self.placed).append(order)
        self.exits.extend(leg_order(order, leg) for leg in legs)

    def _spec(self, order: Order) -> OrderSpec:
        if order.order_type != "market":
            raise ValueError(f"{order.client_order_id}: the daily cycle sends market orders, not {order.order_type}")
        if order.side == "sell":  # a day order: unfilled at the open, the next cycle decides again
            return OrderSpec(client_order_id=order.client_order_id, symbol=order.symbol, side="sell", qty=order.qty)
        if order.stop_price is None:
            raise ValueError(f"{order.client_order_id}: an entry without a stop cannot be protected at the broker")
        return OrderSpec(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side="buy",
            qty=order.qty,
            time_in_force=self.entry_time_in_force,  # type: ignore[arg-type]
            stop_loss=order.stop_price,
            take_profit=order.take_profit,
        )

    # ---- protection --------------------------------------------------------------------------------------------
    def _apply(self, action: protection.Action) -> None:
        if isinstance(action, protection.Cancel):
            order = next(o for o in self.working if o.client_order_id == action.client_order_id)
            self._cancel(order, "exit_cancelled", action.why)
        elif isinstance(action, protection.Place):
            self._place(action.protection)
        else:
            self._move(action)

    def _place(self, need: protection.Protection) -> None:
        intent = "exit:protect"
        coid = client_order_id(self.state.book, self.session, need.symbol, intent)
        if need.target is None:
            spec = OrderSpec(client_order_id=coid, symbol=need.symbol, side="sell", qty=need.qty, kind="stop",
                             time_in_force="gtc", stop_price=need.stop)  # fmt: skip
        else:
            spec = OrderSpec(client_order_id=coid, symbol=need.symbol, side="sell", qty=need.qty, kind="limit",
                             time_in_force="gtc", take_profit=need.target, stop_loss=need.stop, order_class="oco")  # fmt: skip
        outcome = self.trading.submit(spec)
        kind = "limit" if need.target is not None else "stop"
        main = exit_order(self.state, self.session, need.symbol, kind, need.qty, need.stop, need.target, None, intent,
                          f"protective {'stop and take-profit (OCO)' if need.target else 'stop'} at the broker")  # fmt: skip
        if outcome.rejection is not None:
            self.events.append(event(self.session, main, "exit_refused", "rejected", need.qty,
                                     f"{outcome.rejection.reason}: {outcome.rejection.message}"))  # fmt: skip
            return
        assert outcome.order is not None
        self.exits.append(main)
        if spec.klass != "simple":
            self.exits.extend(leg_order(main, leg) for leg in self._legs(outcome.order))

    def _legs(self, order: BrokerOrder) -> tuple[BrokerOrder, ...]:
        """A complex order's legs (an order found again under its id may come without them: asked by its id)."""
        legs = order.legs or self.trading.order_by_id(order.broker_id).legs
        if not legs:
            raise RuntimeError(f"{order.client_order_id}: Alpaca shows no exit legs for this {order.order_class} order")
        return legs

    def _move(self, action: protection.MoveStop) -> None:
        old = next(o for o in self.working if o.client_order_id == action.client_order_id)
        at_broker = self.trading.latest(self._known(old))
        coid = client_order_id(self.state.book, self.session, old.symbol, "exit:move_stop")
        new = self.trading.move_stop(at_broker, action.protection.stop, coid)
        self.working.remove(old)
        self.exits.append(replace(old, client_order_id=new.client_order_id, session=self.session,
                                  stop_price=new.stop_price, reason=f"stop moved to {new.stop_price} (trail)"))  # fmt: skip
        self.events.append(event(self.session, old, "exit_replaced", "info", old.qty,
                                 f"stop moved from {old.stop_price} to {new.stop_price} as {new.client_order_id}"))  # fmt: skip

    def _known(self, order: Order) -> BrokerOrder:
        found = self.trading.order(order.client_order_id)
        if found is None:
            raise RuntimeError(f"{order.client_order_id}: Alpaca has no such exit order to move")
        return found


def leg_order(parent: Order, leg: BrokerOrder) -> Order:
    """A protective leg (a bracket's, an OTO's or an OCO's) as the book keeps it, under the id Alpaca gave it."""
    kind = "stop" if leg.kind in STOP_KINDS else "limit"
    return replace(
        parent,
        client_order_id=leg.client_order_id,
        side="sell",
        order_type=kind,
        qty=leg.qty,
        stop_price=leg.stop_price if kind == "stop" else None,
        take_profit=leg.limit_price if kind == "limit" else None,
        strategy="position_management",
        reason=f"protective {'stop' if kind == 'stop' else 'take-profit'} at the broker, leg of {parent.client_order_id}",
        parent=parent.client_order_id,
    )


def exit_order(
    state: BookState,
    session: date,
    symbol: str,
    kind: str,
    qty: float,
    stop: float | None,
    target: float | None,
    parent: str | None,
    intent: str,
    reason: str,
) -> Order:
    """An exit the cycle places for a position it holds (an exit set, a time stop)."""
    position = state.positions[symbol]
    return Order(
        client_order_id=client_order_id(state.book, session, symbol, intent),
        book=state.book,
        session=session,
        symbol=symbol,
        side="sell",
        qty=qty,
        order_type=kind,
        ref_price=position.last_price,
        stop_price=stop,
        take_profit=target,
        atr=None,
        confidence=1.0,
        strategy="position_management",
        reason=reason,
        equity_at_decision=state.equity,
        cash_at_decision=state.cash,
        position_qty_before=position.qty,
        open_positions_before=len(state.positions),
        parent=parent,
    )


def unprotected(trading: AlpacaTrading) -> dict[str, str]:
    """Every long position at the broker whose shares its working sell stops do not cover, and by how much."""
    covered: dict[str, float] = {}
    for order in trading.open_orders():
        if order.side == "sell" and order.kind in STOP_KINDS and order.status != "held":
            covered[order.symbol] = covered.get(order.symbol, 0.0) + order.qty - order.filled_qty
    return {
        symbol: f"holds {qty:g}, working stops cover {covered.get(symbol, 0.0):g}"
        for symbol, qty in sorted(trading.positions().items())
        if qty > QTY_TOLERANCE and covered.get(symbol, 0.0) < qty - QTY_TOLERANCE
    }
