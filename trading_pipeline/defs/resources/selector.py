"""Strategy selection: one interface; the deterministic regime policy is the offline default."""

from abc import abstractmethod
from collections.abc import Sequence

import pandas as pd
from dagster import ConfigurableResource

from trading_pipeline.domain.selection import select_strategies


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

    @property
    def provider(self) -> str:
        return "rules"

    def select(self, context: pd.DataFrame, available: Sequence[str]) -> pd.DataFrame:
        return select_strategies(context, available)
