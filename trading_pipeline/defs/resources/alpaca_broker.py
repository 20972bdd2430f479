"""The Alpaca broker (alpaca-py TradingClient): paper, or live behind the profile and a confirmation phrase.

One run executes one session, the live cycle's: it settles what the broker did since the last run
(``integrations.alpaca_book.settle``: fills, partial fills, cancels, rejections, a protective stop that
filled while the desk was down), marks the book at the session's close, then, inside the window the
exchange calendar and the broker's clock allow (``domain.market_hours``), sends the session's approved
orders for the next open, each entry with its stop (and take-profit) as legs held at the broker, and
brings every kept position's exit set up to date. Every order has a deterministic client_order_id, so a
re-executed step finds what it already placed. A session whose next open has passed is caught up: settled,
its orders journaled as not sent. Backtest ranges run on the simulator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Literal

from dagster import EnvVar, InitResourceContext
from pydantic import Field, PrivateAttr

from trading_pipeline.defs.resources.alpaca_keys import AlpacaKeys
from trading_pipeline.defs.resources.broker import Broker
from trading_pipeline.domain import calendar
from trading_pipeline.domain.book import BookState, Order, RiskEvent, as_session
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.engine import PricePanels, SessionResult, Settle, replay_decider, run_sessions
from trading_pipeline.domain.market_hours import (
    DAILY_CYCLE_TIME_IN_FORCE,
    BrokerClock,
    OrderKind,
    Window,
    order_window,
)
from trading_pipeline.domain.risk.accounts import Account
from trading_pipeline.domain.risk.halt import HALT_RULE, flatten_orders
from trading_pipeline.integrations import alpaca_book
from trading_pipeline.integrations.alpaca_client import AlpacaSettings, GovernedTradingClient, RetryPolicy
from trading_pipeline.integrations.alpaca_trading import AlpacaTrading, MarketClock, check_live_guard


class SessionNotCurrent(RuntimeError):
    """Orders of a session may leave only after its close and before the next open's auction cutoff."""


class SessionGap(RuntimeError):
    """The book's last closed session is not the one before this one: the sessions between come first."""


class AlpacaBroker(Broker, AlpacaKeys):
    """Alpaca paper trading, or live trading (the live profile, plus TRADING_LIVE_CONFIRM, checked at connect)."""

    mode: Literal["paper", "live"] = Field(default="paper", description="Set by the profile (TRADING_PROFILE).")
    trading_url: str | None = Field(
        default=None, description="Trading API base URL; None means Alpaca's paper or live URL, by the mode."
    )
    time_in_force: Literal["day", "gtc"] = Field(
        default=DAILY_CYCLE_TIME_IN_FORCE,
        description="Of the entries and their exit legs. gtc: queued after the close for the next open, the legs "
        "working until the position closes (an entry still unfilled at the next cycle is cancelled). day: the legs "
        "expire at the next close and are placed again by the next cycle.",
    )
    cash_from_account: bool = Field(
        default=True,
        description="The book is its account's only book: it starts from the account's cash and keeps it.",
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

    @classmethod
    def for_account(cls, account: Account, **config) -> AlpacaBroker:
        """The broker of ``account``: its keys are read from the account's variables when the resource is set up."""
        return cls(api_key=EnvVar(account.key_variable), secret_key=EnvVar(account.secret_variable), **config)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.connect()

    def connect(self) -> AlpacaTrading:
        """Check the live guard (mode, host, confirmation) and build the client; sends nothing."""
        if self._trading is None:
            check_live_guard(self.mode, self.trading_url)
            settings = AlpacaSettings(
                api_key=self.api_key,
                secret_key=self.secret_key,
                paper=self.mode == "paper",
                trading_url=self.trading_url,
                timeout_s=self.timeout_s,
                retry=RetryPolicy(max_attempts=self.max_attempts, base_delay_s=self.retry_base_delay_s),
                max_requests_per_minute=self.max_requests_per_minute,
            )
            self._trading = AlpacaTrading(GovernedTradingClient(settings))
        return self._trading

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

    def unprotected(self, state: BookState) -> dict[str, str]:
        """The account's long positions that its working sell stops do not cover (the broker is the truth)."""
        return alpaca_book.unprotected(self.connect())

    def settler(self, prices: PricePanels) -> Settle:
        trading = self.connect()
        costs = self.cost_model()

        def settle(state: BookState, session: date):
            return alpaca_book.settle(trading, state, session, prices, costs, self.cash_from_account)

        return settle

    def cancel_entries(self, state: BookState) -> tuple[BookState, list[RiskEvent]]:
        """Cancel the book's pending buys at Alpaca (their held exit legs go with them). The book comes back as it
        was: the next run's settlement books what became of each order (cancelled, or filled before the cancel
        reached it), as for any pending order."""
        trading = self.connect()
        events: list[RiskEvent] = []
        for order in (o for o in state.pending if o.side == "buy"):
            if trading.order(order.client_order_id) is None:
                message = "Alpaca does not find this order now: not cancelled, check it at the broker"
                events.append(alpaca_book.event(order.session, order, HALT_RULE, "info", order.qty, message))
                continue
            placed = trading.cancel(order.client_order_id)
            if placed.status == "canceled":
                message = f"entry cancelled at Alpaca ({placed.filled_qty:g} filled before)"
                left = placed.qty - placed.filled_qty
                events.append(alpaca_book.event(order.session, order, HALT_RULE, "cancelled", left, message))
            else:
                message = f"not cancelled: Alpaca reports the order {placed.status}"
                events.append(alpaca_book.event(order.session, order, HALT_RULE, "info", order.qty, message))
        return state, events

    def flatten(self, state: BookState) -> tuple[BookState, list[Order], list[RiskEvent]]:
        """Market sells of the book's positions (day orders: at once in regular hours, else at the next open),
        each under its deterministic client order id, once the position's exits are cancelled (they hold its
        shares). Refused outside the windows the calendar and the broker's clock allow."""
        trading = self.connect()
        clock = trading.market_clock()
        window = flatten_window(clock)
        if not window.allowed:
            raise SessionNotCurrent(f"the book cannot be flattened now: {window.reason}")
        session = state.last_session or clock.latest_closed
        cycle = alpaca_book.Cycle(trading, session, state, "day", check_assets=False)
        sells = flatten_orders(state)
        cycle.cancel_exits({o.symbol for o in sells}, "cancelled to flatten the book")
        for order in sells:
            cycle.submit(order)
        return replace(state, pending=(*cycle.working, *cycle.placed)), cycle.placed, cycle.events

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
        if state.last_session is not None and calendar.previous_session(session).date() != state.last_session:
            raise SessionGap(
                f"book {state.book!r} last closed {state.last_session}: the sessions up to "
                f"{calendar.previous_session(session).date()} come before {session} (run them in order)"
            )
        stray = sorted(d for d, orders in orders_by_session.items() if orders and as_session(d) != session)
        if stray:
            raise ValueError(f"AlpacaBroker executes {session} only; got orders decided on {stray}")
        trading = self.connect()
        clock = trading.market_clock()
        window = order_window(OrderKind.NEXT_OPEN, clock.now, _broker_clock(clock), decided_on=session)
        if not window.allowed and not window.too_late:
            raise SessionNotCurrent(f"orders of {session} cannot leave now: {window.reason}")
        account = trading.account()
        if account.trading_blocked:
            raise RuntimeError(f"Alpaca account is blocked (status {account.status}): nothing was sent")

        todays = list(orders_by_session.get(session, ()))
        [result] = run_sessions(state, [session], prices, replay_decider({}), self.cost_model(),
                                settle=self.settler(prices))  # fmt: skip
        if window.too_late:
            return [replace(result, orders=tuple(todays), events=(*result.events, *_missed(session, todays, window)))]
        cycle = alpaca_book.Cycle(trading, session, result.state, self.time_in_force, self.check_assets)
        final = cycle.run(todays)
        return [
            SessionResult(
                session=session,
                fills=result.fills,
                orders=tuple(todays),
                events=(*result.events, *cycle.events),
                state=final,
                exits=(*result.exits, *cycle.exits),
            )
        ]


def flatten_window(clock: MarketClock) -> Window:
    """A flattening sell leaves in regular hours, or queued for the next open (after a close, until the opening
    auction's cutoff); not in between (09:28 to 09:30, an early close's afternoon)."""
    broker_clock = _broker_clock(clock)
    now = order_window(OrderKind.INTRADAY, clock.now, broker_clock)
    if now.allowed or clock.latest_closed is None:
        return now
    queued = order_window(OrderKind.NEXT_OPEN, clock.now, broker_clock, decided_on=clock.latest_closed)
    return queued if queued.allowed else now


def _broker_clock(clock: MarketClock) -> BrokerClock:
    return BrokerClock(
        timestamp=clock.now, is_open=clock.is_open, next_open=clock.next_open, next_close=clock.next_close
    )


def _missed(session: date, orders: list[Order], window) -> list[RiskEvent]:
    """A session caught up after its next open: settled as the broker did, its decisions journaled, not sent."""
    return [
        alpaca_book.event(session, order, "session_caught_up", "cancelled", order.qty, f"not sent: {window.reason}")
        for order in orders
    ]
