"""indicators: technical indicators per (session, symbol), computed once over the whole range."""

import pandas as pd
from dagster import AssetExecutionContext

from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.domain import calendar
from trading_pipeline.domain.bars import validate_bars
from trading_pipeline.domain.indicators import compute_indicators

# MA200 plus a margin: enough history before the first session for every indicator to be warm.
WARMUP_SESSIONS = 260


@session_table("signals")
def indicators(context: AssetExecutionContext, market_bars: pd.DataFrame, market_data: MarketData) -> pd.DataFrame:
    """The warm-up history before the range comes from the same provider through the same validation,
    so a backtest starting on any session needs no earlier partitions."""
    sessions = session_dates(context.partition_keys)
    warmup = validate_bars(
        market_data.bars(
            calendar.session_offset(sessions[0], -WARMUP_SESSIONS).date(),
            calendar.previous_session(sessions[0]).date(),
        )
    )
    frame = compute_indicators(pd.concat([warmup, market_bars], ignore_index=True))
    frame = frame[frame["date"] >= pd.Timestamp(sessions[0])].reset_index(drop=True)
    context.add_output_metadata({"symbols": int(frame["symbol"].nunique()), "warmup_sessions": WARMUP_SESSIONS})
    return frame
