"""validated_signals: signals after the quant checks (confidence may only go down)."""

import pandas as pd
from dagster import AssetExecutionContext, asset

from trading_pipeline.defs.partitions import sessions_partitions, single_run
from trading_pipeline.domain.validation import validate_signals


@asset(
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    io_manager_key="session_store",
    group_name="signals",
    kinds={"pandas"},
)
def validated_signals(context: AssetExecutionContext, signals: pd.DataFrame, market_context: pd.DataFrame) -> pd.DataFrame:
    """Every lowered confidence carries its reason in the ``validation`` column."""
    frame = validate_signals(signals, market_context)
    actionable = frame["action"] != "HOLD"
    context.add_output_metadata(
        {
            "actionable": int(actionable.sum()),
            "lowered": int((actionable & (frame["confidence"] < frame["raw_confidence"])).sum()),
        }
    )
    return frame
