"""market_context: the regime features a strategy is chosen from."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue

from trading_pipeline.defs.session_table import session_table
from trading_pipeline.domain.context import market_context as compute_market_context


@session_table("signals")
def market_context(context: AssetExecutionContext, indicators: pd.DataFrame) -> pd.DataFrame:
    """Trend strength, volatility regime, volume ratio and momentum per (session, symbol)."""
    frame = compute_market_context(indicators)
    regimes = frame["regime"].value_counts().rename_axis("regime").reset_index(name="rows")
    context.add_output_metadata({"regimes": MetadataValue.md(regimes.to_markdown(index=False))})
    return frame
