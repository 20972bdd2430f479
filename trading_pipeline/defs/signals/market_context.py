"""market_context: the regime features a strategy is chosen from."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, asset

from trading_pipeline.defs.partitions import sessions_partitions, single_run
from trading_pipeline.domain.context import market_context as compute_market_context


@asset(
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    io_manager_key="session_store",
    group_name="signals",
    kinds={"pandas"},
)
def market_context(context: AssetExecutionContext, indicators: pd.DataFrame) -> pd.DataFrame:
    """Trend strength, volatility regime, volume ratio and momentum per (session, symbol)."""
    frame = compute_market_context(indicators)
    regimes = frame["regime"].value_counts().rename_axis("regime").reset_index(name="rows")
    context.add_output_metadata({"regimes": MetadataValue.md(regimes.to_markdown(index=False))})
    return frame
