"""Strategy selection: one interface; the deterministic regime policy is the offline default.

Every selector returns, per (date, symbol) of the context, a strategy of the allowed set with its reason,
plus who decided (``provider``) and how (``outcome``: rules, ok, cached, fallback, budget, replay), which the
selection step journals as ``strategy_choices``. The LLM selectors live in ``llm.py``.
"""

from abc import abstractmethod
from collections.abc import Sequence

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from trading_pipeline.domain.llm.calls import RULES_OUTCOME, LLMRun
from trading_pipeline.domain.schema import KEY
from trading_pipeline.domain.selection import select_strategies

CHOICE_COLUMNS = [*KEY, "strategy", "reason", "provider", "outcome"]


class StrategySelector(ConfigurableResource):
    """Chooses, per (date, symbol), one strategy of the allowed set from the market context."""

    @abstractmethod
    def select(self, context: pd.DataFrame, available: Sequence[str], run: LLMRun | None = None) -> pd.DataFrame:
        """``CHOICE_COLUMNS``; strategy always one of ``available``. ``run`` gives access to the journal."""

    @property
    @abstractmethod
    def provider(self) -> str:
        """A short name for metadata and the journal."""

    @property
    def reads_data(self) -> bool:
        """Whether it reads more than the context (the memory's figures, news): only then are they computed."""
        return True


class RuleBasedSelector(StrategySelector):
    """Maps the market regime to a strategy; also the fallback of every LLM selector."""

    pin: str | None = Field(
        default=None,
        description="Always choose this strategy (to backtest one strategy alone, built-in or a registered "
        "user strategy); None: the regime policy.",
    )

    @property
    def reads_data(self) -> bool:
        return False

    @property
    def provider(self) -> str:
        return f"rules:pinned:{self.pin}" if self.pin else "rules"

    def select(self, context: pd.DataFrame, available: Sequence[str], run: LLMRun | None = None) -> pd.DataFrame:
        if self.pin is None:
            chosen = select_strategies(context, available)
        elif self.pin not in available:
            raise ValueError(
                f"pinned strategy {self.pin!r} is not registered; the strategies are {sorted(available)} "
                "(a user strategy needs the strategies resource's plugins or an entry point)"
            )
        else:
            chosen = context[KEY].reset_index(drop=True).assign(strategy=self.pin, reason=f"pinned to {self.pin}")
        return chosen.assign(provider=self.provider, outcome=RULES_OUTCOME)


class ReplaySelector(StrategySelector):
    """Serves the choices journaled by an earlier run of ``source_book`` (e.g. a live LLM's), so that a
    backtest can be re-run on recorded decisions without calling any model."""

    source_book: str = Field(description="The book whose journaled strategy_choices are replayed.")

    @property
    def reads_data(self) -> bool:
        return False

    @property
    def provider(self) -> str:
        return f"replay:{self.source_book}"

    def select(self, context: pd.DataFrame, available: Sequence[str], run: LLMRun | None = None) -> pd.DataFrame:
        if run is None:
            raise ValueError("ReplaySelector reads the journal: it needs the run's journal (LLMRun)")
        keys = context[KEY].reset_index(drop=True)
        if keys.empty:
            return pd.DataFrame(columns=CHOICE_COLUMNS)
        recorded = run.ledger.recorded_choices(self.source_book, keys["date"].min(), keys["date"].max()).rename(
            columns={"session": "date"}
        )
        merged = keys.merge(
            recorded[[*KEY, "strategy", "reason", "provider"]], on=KEY, how="left", validate="one_to_one"
        )
        missing = merged[merged["strategy"].isna()]
        if len(missing):
            first = ", ".join(f"{r.symbol}@{r.date:%Y-%m-%d}" for r in missing.head(5).itertuples())
            raise ValueError(
                f"book {self.source_book!r} has no recorded choice for {len(missing)} of {len(merged)} "
                f"(session, symbol) rows, e.g. {first}: record them first or replay a shorter range"
            )
        return merged.assign(outcome="replay")[CHOICE_COLUMNS]
