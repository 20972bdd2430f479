"""signals: BUY/SELL/HOLD with confidence, stop and target from each symbol's selected strategy."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, asset

from trading_pipeline.defs.partitions import sessions_partitions, single_run
from trading_pipeline.domain.strategies import generate_signals


@asset(
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    io_manager_key="session_store",
    group_name="signals",
    kinds={"pandas"},
)
def signals(context: AssetExecutionContext, indicators: pd.DataFrame, strategy_selection: pd.DataFrame) -> pd.DataFrame:
    """Every strategy runs vectorized over the range; each row keeps the output of its selected one."""
    frame = generate_signals(indicators, strategy_selection)
    actions = frame.groupby(["strategy", "action"]).size().rename("rows").reset_index()
    context.add_output_metadata({"actions": MetadataValue.md(actions.to_markdown(index=False))})
    return frame
