"""Brokers behind one interface; the simulator (next-open fills, commission, slippage) is the default."""

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

from dagster import ConfigurableResource
from pydantic import Field

from trading_pipeline.domain.book import BookState, Order, RiskEvent
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.engine import PricePanels, SessionResult, Settle, replay_decider, run_sessions
from trading_pipeline.domain.risk.halt import drop_entries, flatten_orders


class Broker(ConfigurableResource):
    """Executes approved orders session by session and reports fills and the resulting book."""

    @property
    @abstractmethod
    def kind(self) -> str:
        """The kind of book it trades: ``simulated``, or a real broker's ``paper`` or ``live``."""

    @abstractmethod
    def cost_model(self) -> CostModel:
        """The costs sizing must assume for this broker."""

    @abstractmethod
    def execute(
        self,
        state: BookState,
        sessions: Sequence[date],
        orders_by_session: Mapping[date, list[Order]],
        prices: PricePanels,
    ) -> list[SessionResult]:
        """Run the sessions in order, placing each session's orders for the next session's open.

        ``prices`` holds the tradable bars of ``sessions`` (opens, highs, lows, closes; NaN where a bar
        is missing or quarantined): the fill prices a simulator uses and the marks a live broker checks.
        Each buy carries its position's exit instructions (``stop_price``, ``take_profit``, trailing,
        time stop); the protective exits that fill are reported in ``SessionResult.exits`` and ``fills``.
        The circuit breaker is not the broker's concern: the execution step threads it afterwards.
        """

    def settler(self, prices: PricePanels) -> Settle | None:
        """How a session of this broker settles for sizing; None: the simulator's fills (a real broker's book is
        what the broker did, so the decisions are taken on it)."""
        return None

    def unprotected(self, state: BookState) -> dict[str, str]:
        """The open positions without a protective stop, and why: here, the book's own (``state``)."""
        return {
            symbol: "no stop level"
            for symbol, position in sorted(state.positions.items())
            if position.protective_stop()[0] is None
        }

    @abstractmethod
    def cancel_entries(self, state: BookState) -> tuple[BookState, list[RiskEvent]]:
        """Cancel the book's pending buys (a halt): the book as the next run must start from, and what happened to
        each order. Sells stand."""

    @abstractmethod
    def flatten(self, state: BookState) -> tuple[BookState, list[Order], list[RiskEvent]]:
        """Place market sells of the book's positions (``domain.risk.halt.flatten_orders``) for the next open: the
        book with them pending, the orders placed, and the refusals."""


class SimulatedBroker(Broker):
    """Deterministic replay: the same orders and bars always give the same fills."""

    commission_per_share: float = Field(default=0.005, ge=0)
    min_commission: float = Field(default=1.0, ge=0)
    slippage_bps: float = Field(default=5.0, ge=0)

    @property
    def kind(self) -> str:
        return "simulated"

    def cost_model(self) -> CostModel:
        return CostModel(
            commission_per_share=self.commission_per_share,
            min_commission=self.min_commission,
            slippage_bps=self.slippage_bps,
        )

    def execute(self, state, sessions, orders_by_session, prices) -> list[SessionResult]:
        return run_sessions(state, sessions, prices, replay_decider(orders_by_session), self.cost_model())

    def cancel_entries(self, state: BookState) -> tuple[BookState, list[RiskEvent]]:
        """The simulator's orders live in the book: cancelled, they are gone from it."""
        return drop_entries(state)

    def flatten(self, state: BookState) -> tuple[BookState, list[Order], list[RiskEvent]]:
        orders = flatten_orders(state)
        return replace(state, pending=(*state.pending, *orders)), orders, []
