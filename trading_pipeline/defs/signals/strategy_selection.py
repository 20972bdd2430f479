"""strategy_selection: one strategy of the closed set per (session, symbol), chosen by an op that retries."""

import pandas as pd
from dagster import Backoff, In, Jitter, MetadataValue, OpExecutionContext, Out, RetryPolicy, graph_asset, op

from trading_pipeline.defs.partitions import sessions_partitions, single_run
from trading_pipeline.defs.resources.selector import StrategySelector
from trading_pipeline.domain.strategies import REGISTRY

# LLM providers fail transiently (429/5xx); the op retries with backoff before its selector falls back.
SELECTION_RETRY = RetryPolicy(max_retries=3, delay=1.0, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


@op(retry_policy=SELECTION_RETRY, ins={"market_context": In(pd.DataFrame)}, out=Out(pd.DataFrame, io_manager_key="session_store"))
def select_strategies(context: OpExecutionContext, market_context: pd.DataFrame, selector: StrategySelector):
    """Anything outside the registered strategies is refused here, whatever the selector answered."""
    available = sorted(REGISTRY)
    selection = selector.select(market_context, available)
    unknown = sorted(set(selection["strategy"]) - set(available))
    if unknown:
        raise ValueError(f"selector {selector.provider} chose strategies outside the allowed set: {unknown}")
    counts = selection["strategy"].value_counts().rename_axis("strategy").reset_index(name="rows")
    context.add_output_metadata({"selector": selector.provider, "choices": MetadataValue.md(counts.to_markdown(index=False))})
    return selection


@graph_asset(
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    group_name="signals",
    kinds={"pandas"},
)
def strategy_selection(market_context: pd.DataFrame) -> pd.DataFrame:
    """Which deterministic strategy decides each (session, symbol)."""
    return select_strategies(market_context)
