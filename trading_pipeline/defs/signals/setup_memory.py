"""setup_memory: what the nearest past setups of each (session, symbol) did, against a date-matched baseline.

Each run remembers the setups of its range (and of ``history_sessions`` before it) whose outcome it can see,
then asks the memory about every (session, symbol) of the range: the figures go to the LLM selector and
reviewer as JSON data and to the optional memory check of validated_signals. A query on session D sees only
outcomes known by D's close (``domain/memory/store.py``), whatever else the memory holds.
"""

import pandas as pd
from dagster import AssetExecutionContext, Config, MetadataValue
from pydantic import Field

from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.defs.resources.memory import SetupMemoryStore
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.defs.signals.indicators import indicators_with_lookback
from trading_pipeline.domain import calendar
from trading_pipeline.domain.context import market_context
from trading_pipeline.domain.memory.outcomes import DEFAULT_HORIZON, setup_outcomes
from trading_pipeline.domain.memory.summary import DEFAULT_K, similar_setups_many, summary_frame
from trading_pipeline.domain.memory.vectors import ZSCORE_WINDOW, setup_vectors


class SetupMemoryConfig(Config):
    k: int = Field(default=DEFAULT_K, ge=1, description="Neighbours per setup.")
    history_sessions: int = Field(
        default=252,
        ge=0,
        description="Sessions before the range whose setups are remembered too, so that its first sessions "
        "already have a memory (a setup is stored once: later runs over the same sessions add nothing).",
    )


@session_table("signals")
def setup_memory(
    context: AssetExecutionContext,
    config: SetupMemoryConfig,
    indicators: pd.DataFrame,
    market_data: MarketData,
    memory: SetupMemoryStore,
) -> pd.DataFrame:
    """Count, mean, median and hit rate of the 10-session forward returns of each setup's nearest past setups,
    and of every setup of the same sessions (the baseline), as the memory stood on the setup's session."""
    first = session_dates(context.partition_keys)[0]
    # The z-scores of the earliest remembered setup need a full window of the symbol's bars before it.
    history = indicators_with_lookback(market_data, indicators, first, ZSCORE_WINDOW + config.history_sessions)
    vectors = setup_vectors(history, market_context(history))
    vectors = vectors[vectors["date"] >= calendar.session_offset(first, -config.history_sessions)]
    store, added = memory.remember(vectors, setup_outcomes(history, DEFAULT_HORIZON))
    asked = vectors[vectors["date"] >= pd.Timestamp(first)].reset_index(drop=True)
    frame = summary_frame(similar_setups_many(store, asked, config.k, DEFAULT_HORIZON))
    judged = frame["neighbours_count"] > 0
    context.add_output_metadata(
        {
            "memory": memory.provider,
            "setups_added": added,
            "setups_asked": len(asked),
            "setups_with_neighbours": int(judged.sum()),
            "mean_neighbour_hit_rate": MetadataValue.float(float(frame.loc[judged, "neighbours_hit_rate"].mean()))
            if judged.any()
            else MetadataValue.text("no neighbours yet"),
        }
    )
    return frame
