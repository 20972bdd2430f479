"""signals: BUY/SELL/HOLD with confidence, stop and target from each symbol's selected strategy."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue

from trading_pipeline.defs.session_table import session_table
from trading_pipeline.domain.strategies import generate_signals


@session_table("signals")
def signals(context: AssetExecutionContext, indicators: pd.DataFrame, strategy_selection: pd.DataFrame) -> pd.DataFrame:
    """Every strategy runs vectorized over the range; each row keeps the output of its selected one."""
    frame = generate_signals(indicators, strategy_selection)
    actions = frame.groupby(["strategy", "action"]).size().rename("rows").reset_index()
    context.add_output_metadata({"actions": MetadataValue.md(actions.to_markdown(index=False))})
    return frame
