"""The Alpaca broker (alpaca-py TradingClient): paper by default, live only behind a two-key guard.

One run executes one session, the live cycle's: first it settles the orders the book left pending (their
fills, partial fills, cancels and rejections as Alpaca reports them), then it marks the book at the
session's close, then it submits the session's approved orders for the next open, each with its
deterministic client_order_id, so a re-executed step finds the orders it already placed instead of
duplicating them. Backtest ranges run on the simulator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Literal

import pandas as pd
from dagster import EnvVar, InitResourceContext
from pydantic import Field, PrivateAttr

from trading_pipeline.defs.resources.broker import Broker
from trading_pipeline.domain.book import BookState, Fill, Order, RiskEvent, as_session, fill_id
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.engine import PricePanels, SessionResult
from trading_pipeline.domain.ledger import QTY_TOLERANCE, apply_executions
from trading_pipeline.domain.risk.accounts import Account
from trading_pipeline.domain.risk.halt import HALT_RULE, flatten_orders
from trading_pipeline.domain.simulator import close_session
from trading_pipeline.integrations.alpaca_client import AlpacaSettings, GovernedTradingClient, RetryPolicy
from trading_pipeline.integrations.alpaca_trading import AlpacaTrading, LiveTradingRefused, OrderSpec, trading_mode

LIVE_HOST = "api.alpaca.markets"


class SessionNotCurrent(RuntimeError):
    """Orders decided on a session other than the broker's latest closed session must not be sent."""


def execution_fill_id(client_order_id: str, filled_qty: float, total_qty: float) -> str:
    """The id of the fill that brought an order to ``filled_qty``: the simulator's id when it filled at once,
    one id per cumulative quantity for partial fills, so re-reading the same broker state gives the same ids."""
    base = fill_id(client_order_id)
    return base if abs(filled_qty - total_qty) <= QTY_TOLERANCE else f"{base}-{filled_qty:g}"


def _row(panel: pd.DataFrame, session: date) -> dict[str, float]:
    stamp = pd.Timestamp(session)
    if stamp not in panel.index:
        raise ValueError(f"no prices for session {session}")
    return {str(k): float(v) for k, v in panel.loc[stamp].items() if pd.notna(v)}


class AlpacaBroker(Broker):
    """Alpaca paper trading by default (TRADING_MODE=live plus TRADING_LIVE_CONFIRM for live)."""

    api_key: str = Field(description="Alpaca key id; pass EnvVar('ALPACA_API_KEY').")
    secret_key: str = Field(description="Alpaca secret; pass EnvVar('ALPACA_SECRET_KEY').")
    trading_url: str | None = Field(
        default=None, description="Trading API base URL; None means Alpaca's paper (or, when allowed, live) URL."
    )
    time_in_force: Literal["day", "opg", "cls", "gtc"] = Field(
        default="opg", description="opg: the orders decided at a close execute in the next session's opening auction."
    )
    check_session: bool = Field(
        default=True, description="Refuse to send orders unless the session is the broker's latest closed session."
    )
    check_assets: bool = Field(default=True, description="Reject unknown or halted symbols before submitting.")
    commission_per_share: float = Field(default=0.0, ge=0, description="Alpaca charges no stock commission.")
    min_commission: float = Field(default=0.0, ge=0)
    slippage_bps: float = Field(default=5.0, ge=0, description="What sizing assumes about the fill price.")
    timeout_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=4, ge=1, description="Attempts per request on 429/5xx/connection errors.")
    retry_base_delay_s: float = Field(default=0.5, ge=0)
    max_requests_per_minute: int = Field(default=200, ge=1)
    _trading: AlpacaTrading | None = PrivateAttr(default=None)
    _mode: str | None = PrivateAttr(default=None)

    @classmethod
    def from_env(cls, **config) -> AlpacaBroker:
        return cls(api_key=EnvVar("ALPACA_API_KEY"), secret_key=EnvVar("ALPACA_SECRET_KEY"), **config)

    @classmethod
    def for_account(cls, account: Account, **config) -> AlpacaBroker:
        """The broker of ``account``: its keys are read from the account's variables when the resource is set up."""
        return cls(api_key=EnvVar(account.key_variable), secret_key=EnvVar(account.secret_variable), **config)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.connect()

    def connect(self) -> AlpacaTrading:
        """Resolve the mode (refusing live without both keys) and build the client; sends nothing."""
        if self._trading is None:
            mode = trading_mode()
            if (
                mode == "paper"
                and self.trading_url
                and LIVE_HOST in self.trading_url
                and "paper" not in self.trading_url
            ):
                raise LiveTradingRefused(
                    f"trading_url points at the live API ({LIVE_HOST}) but TRADING_MODE is paper: refused"
                )
            settings = AlpacaSettings(
                api_key=self.api_key,
                secret_key=self.secret_key,
                paper=mode == "paper",
                trading_url=self.trading_url,
                timeout_s=self.timeout_s,
                retry=RetryPolicy(max_attempts=self.max_attempts, base_delay_s=self.retry_base_delay_s),
                max_requests_per_minute=self.max_requests_per_minute,
            )
            self._mode = mode
            self._trading = AlpacaTrading(GovernedTradingClient(settings))
        return self._trading

    @property
    def mode(self) -> str:
        self.connect()
        return str(self._mode)

    @property
    def kind(self) -> str:
        return self.mode

    def cost_model(self) -> CostModel:
        return CostModel(
            commission_per_share=self.commission_per_share,
            min_commission=self.min_commission,
            slippage_bps=self.slippage_bps,
        )

    def broker_positions(self) -> dict[str, float]:
        """The account's positions now, for the reconciliation check."""
        return self.connect().positions()

    def cancel_entries(self, state: BookState) -> tuple[BookState, list[RiskEvent]]:
        """Cancel the book's pending buys at Alpaca. The book comes back as it was: the next run's settlement books
        what became of each order (cancelled, or filled before the cancel reached it), as for any pending order."""
        trading = self.connect()
        events: list[RiskEvent] = []
        for order in (o for o in state.pending if o.side == "buy"):
            if trading.order(order.client_order_id) is None:
                message = "Alpaca does not find this order now: not cancelled, check it at the broker"
                events.append(self._event(order.session, order, HALT_RULE, "info", order.qty, message))
                continue
            placed = trading.cancel(order.client_order_id)
            if placed.status == "canceled":
                message = f"entry cancelled at Alpaca ({placed.filled_qty:g} filled before)"
                left = placed.qty - placed.filled_qty
                events.append(self._event(order.session, order, HALT_RULE, "cancelled", left, message))
            else:
                message = f"not cancelled: Alpaca reports the order {placed.status}"
                events.append(self._event(order.session, order, HALT_RULE, "info", order.qty, message))
        return state, events

    def flatten(self, state: BookState) -> tuple[BookState, list[Order], list[RiskEvent]]:
        """Market sells of the book's positions (time in force day: at once in regular hours, else at the next
        open), each under its deterministic client order id; the placed ones join the pending orders the next run
        settles."""
        trading = self.connect()
        placed: list[Order] = []
        events: list[RiskEvent] = []
        for order in flatten_orders(state):
            spec = OrderSpec(
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                side="sell",
                qty=order.qty,
                kind="market",
                time_in_force="day",
            )
            refusal = trading.submit(spec).rejection
            if refusal is None:
                placed.append(order)
            else:
                rule = f"broker_{refusal.reason}"
                events.append(self._event(order.session, order, rule, "rejected", order.qty, refusal.message))
        return replace(state, pending=(*state.pending, *placed)), placed, events

    def execute(
        self,
        state: BookState,
        sessions: Sequence[date],
        orders_by_session: Mapping[date, list[Order]],
        prices: PricePanels,
    ) -> list[SessionResult]:
        if len(sessions) != 1:
            raise ValueError(
                f"AlpacaBroker executes one session per run (the live cycle), got {len(sessions)}; "
                "run backtest ranges on SimulatedBroker"
            )
        session = as_session(sessions[0])
        if state.last_session is not None and session <= state.last_session:
            raise ValueError(f"book {state.book!r} is already closed at {state.last_session}; cannot execute {session}")
        stray = sorted(d for d, orders in orders_by_session.items() if orders and as_session(d) != session)
        if stray:
            raise ValueError(f"AlpacaBroker executes {session} only; got orders decided on {stray}")
        trading = self.connect()
        if self.check_session:
            clock = trading.market_clock()
            if clock.latest_closed != session or clock.is_open:
                raise SessionNotCurrent(
                    f"orders of {session} can only be sent after its close and before the next open: the broker's "
                    f"clock is {clock.now.isoformat()} (market {'open' if clock.is_open else 'closed'}) and its latest "
                    f"closed session is {clock.latest_closed}"
                )
        account = trading.account()
        if account.trading_blocked:
            raise RuntimeError(f"Alpaca account is blocked (status {account.status}): nothing was sent")

        executions, still_pending, events = self._settle(trading, state, session, prices)
        settled, booking_events = apply_executions(state, session, executions)
        marked = close_session(settled, session, _row(prices.closes, session), _row(prices.highs, session))

        todays = list(orders_by_session.get(session, ()))
        placed, rejections = self._submit(trading, todays, session)
        result_book = replace(marked, pending=(*still_pending, *placed))
        return [
            SessionResult(
                session=session,
                fills=tuple(f for _, f in executions),
                orders=tuple(todays),
                events=(*events, *booking_events, *rejections),
                state=result_book,
            )
        ]

    def _settle(
        self, trading: AlpacaTrading, state: BookState, session: date, prices: PricePanels
    ) -> tuple[list[tuple[Order, Fill]], list[Order], list[RiskEvent]]:
        """What Alpaca did with each pending order since the last run; a pending order's qty is what was left.

        An order's new executions are booked at its cumulative ``filled_avg_price``: exact for an order that
        fills between two runs (the usual case), approximate for the later part of a partial fill, because
        Alpaca's order object carries no per-execution price (the account activities API would).
        """
        opens = _row(prices.opens, session)
        costs = self.cost_model()
        executions: list[tuple[Order, Fill]] = []
        pending: list[Order] = []
        events: list[RiskEvent] = []
        for order in state.pending:
            placed = trading.order(order.client_order_id)
            if placed is None:
                # Not found is not cancelled: the order was acknowledged when it was placed. It stays pending and
                # is asked for again next run; the reconciliation check shows any difference meanwhile.
                pending.append(order)
                events.append(
                    self._event(
                        session,
                        order,
                        "broker_order_not_found",
                        "info",
                        order.qty,
                        "Alpaca did not find this client_order_id now: kept pending, asked again next run",
                    )
                )
                continue
            booked = placed.qty - order.qty
            new = placed.filled_qty - booked
            if new > QTY_TOLERANCE:
                price = float(placed.filled_avg_price)  # type: ignore[arg-type]
                reference = opens.get(order.symbol, order.ref_price)
                executions.append(
                    (
                        order,
                        Fill(
                            fill_id=execution_fill_id(order.client_order_id, placed.filled_qty, placed.qty),
                            client_order_id=order.client_order_id,
                            book=order.book,
                            session=session,
                            symbol=order.symbol,
                            side=order.side,
                            qty=new,
                            price=price,
                            commission=costs.commission(new),
                            slippage=new * abs(price - reference),
                        ),
                    )
                )
            left = placed.qty - placed.filled_qty
            if left <= QTY_TOLERANCE:
                continue
            if placed.is_open:
                pending.append(replace(order, qty=left))
            else:
                action = "rejected" if placed.status == "rejected" else "cancelled"
                events.append(
                    self._event(
                        session,
                        order,
                        f"broker_{placed.status}",
                        action,
                        left,
                        f"Alpaca closed the order {placed.status} with {left:g} unfilled",
                    )
                )
        return executions, pending, events

    def _submit(
        self, trading: AlpacaTrading, orders: list[Order], session: date
    ) -> tuple[list[Order], list[RiskEvent]]:
        placed: list[Order] = []
        events: list[RiskEvent] = []
        for order in sorted(orders, key=lambda o: (o.side != "sell", o.symbol)):  # sells first free buying power
            if order.order_type != "market":
                raise ValueError(
                    f"{order.client_order_id}: AlpacaBroker sends the cycle's market orders; a {order.order_type} "
                    "exit is the simulator's (broker-side exits are not wired)"
                )
            refusal = trading.asset_tradable(order.symbol) if self.check_assets else None
            if refusal is None:
                outcome = trading.submit(
                    OrderSpec(
                        client_order_id=order.client_order_id,
                        symbol=order.symbol,
                        side=order.side,
                        qty=order.qty,
                        kind="market",
                        time_in_force=self.time_in_force,
                    )
                )
                refusal = outcome.rejection
            if refusal is not None:
                events.append(
                    self._event(session, order, f"broker_{refusal.reason}", "rejected", order.qty, refusal.message)
                )
            else:
                placed.append(order)  # even one Alpaca rejects later: the next run's settlement reports it
        return placed, events

    @staticmethod
    def _event(session: date, order: Order, rule: str, action: str, qty: float, message: str) -> RiskEvent:
        return RiskEvent(
            session=session,
            symbol=order.symbol,
            rule=rule,
            action=action,  # type: ignore[arg-type]
            value=qty,
            limit=None,
            message=f"{order.client_order_id}: {message}",
        )
