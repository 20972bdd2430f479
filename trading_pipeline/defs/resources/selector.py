"""Strategy selection: one interface; the deterministic regime policy is the offline default."""

from abc import abstractmethod
from collections.abc import Sequence

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field, field_validator

from trading_pipeline.domain.selection import select_strategies
from trading_pipeline.domain.strategies import REGISTRY


class StrategySelector(ConfigurableResource):
    """Chooses, per (date, symbol), one strategy of the allowed set from the market context."""

    @abstractmethod
    def select(self, context: pd.DataFrame, available: Sequence[str]) -> pd.DataFrame:
        """Columns date, symbol, strategy, reason; strategy always one of ``available``."""

    @property
    @abstractmethod
    def provider(self) -> str:
        """A short name for metadata and the journal."""


class RuleBasedSelector(StrategySelector):
    """Maps the market regime to a strategy; also the fallback of every LLM selector."""

    pin: str | None = Field(
        default=None,
        description="Always choose this strategy (to backtest one strategy alone); None: the regime policy.",
    )

    @field_validator("pin")
    @classmethod
    def _known(cls, pin: str | None) -> str | None:
        if pin is not None and pin not in REGISTRY:
            raise ValueError(f"unknown strategy {pin!r}; the strategies are {sorted(REGISTRY)}")
        return pin

    @property
    def provider(self) -> str:
        return f"rules:pinned:{self.pin}" if self.pin else "rules"

    def select(self, context: pd.DataFrame, available: Sequence[str]) -> pd.DataFrame:
        if self.pin is None:
            return select_strategies(context, available)
        return context[["date", "symbol"]].assign(strategy=self.pin, reason=f"pinned to {self.pin}")
