"""indicators: technical indicators per (session, symbol), computed once over the whole range."""

from datetime import date

import pandas as pd
from dagster import AssetExecutionContext

from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.resources.bar_rules import BarRules
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.domain import calendar
from trading_pipeline.domain.indicators import LONGEST_LOOKBACK, compute_indicators

# The longest look-back plus a margin (missing bars; the smoothed ATR, RSI and ADX settling): every indicator of
# the first session is warm, whether a backfill starts there or the live cycle trades it from the provider's bars.
WARMUP_SESSIONS = LONGEST_LOOKBACK + 60


def warm_indicators(market_data: MarketData, rules: BarRules, bars: pd.DataFrame, first_session: date) -> pd.DataFrame:
    """Indicators of ``bars`` (validated, from ``first_session`` on), warmed up on the provider's earlier
    bars through the same validation, so a range starting on any session needs no earlier partitions."""
    warmup = rules.validate(
        market_data.bars(
            calendar.session_offset(first_session, -WARMUP_SESSIONS).date(),
            calendar.previous_session(first_session).date(),
        )
    )
    frame = compute_indicators(pd.concat([warmup, bars], ignore_index=True))
    return frame[frame["date"] >= pd.Timestamp(first_session)].reset_index(drop=True)


def indicators_with_lookback(
    market_data: MarketData, rules: BarRules, indicators: pd.DataFrame, first_session: date, lookback: int
) -> pd.DataFrame:
    """``indicators`` of a range preceded by the ``lookback`` sessions before it (each warmed up the same
    way), sorted by (symbol, date): the history point-in-time metrics such as track records read."""
    start = calendar.session_offset(first_session, -lookback).date()
    before = rules.validate(market_data.bars(start, calendar.previous_session(first_session).date()))
    earlier = warm_indicators(market_data, rules, before, start)
    return (
        pd.concat([earlier, indicators], ignore_index=True)
        .sort_values(["symbol", "date"], kind="stable")
        .reset_index(drop=True)
    )


@session_table("signals")
def indicators(
    context: AssetExecutionContext, market_bars: pd.DataFrame, market_data: MarketData, bar_rules: BarRules
) -> pd.DataFrame:
    """Only bars that passed validation get indicators; a quarantined bar is never a price."""
    sessions = session_dates(context.partition_keys)
    frame = warm_indicators(market_data, bar_rules, market_bars, sessions[0])
    context.add_output_metadata({"symbols": int(frame["symbol"].nunique()), "warmup_sessions": WARMUP_SESSIONS})
    return frame
