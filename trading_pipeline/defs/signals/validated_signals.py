"""validated_signals: signals after the quant checks (confidence may only go down)."""

import pandas as pd
from dagster import AssetExecutionContext

from trading_pipeline.defs.session_table import session_table
from trading_pipeline.domain.validation import validate_signals


@session_table("signals")
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
