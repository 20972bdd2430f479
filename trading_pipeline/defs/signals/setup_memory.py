"""setup_memory: the setup vector of each (session, symbol), and the memory of past setups filled with them.

Each run remembers the setups of its range (and of ``history_sessions`` before it) whose outcome it can see,
and hands on the range's vectors. The steps that read the memory ask it about them, and only they: the LLM
selector and reviewer (the figures as JSON data) and the memory check of validated_signals when it is on.
One k-nearest query per (session, symbol) would cost a 500-symbol backtest half an hour for the
deterministic policy, which reads none of it. A query on session D sees only outcomes known by D's close
(``domain/memory/store.py``), whatever else the memory holds.
"""

import pandas as pd
from dagster import AssetExecutionContext, Config
from pydantic import Field

from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.defs.resources.memory import SetupMemoryStore
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.defs.signals.indicators import indicators_with_lookback
from trading_pipeline.domain import calendar
from trading_pipeline.domain.context import market_context
from trading_pipeline.domain.memory.outcomes import DEFAULT_HORIZON, setup_outcomes
from trading_pipeline.domain.memory.vectors import ZSCORE_WINDOW, setup_vectors


class SetupMemoryConfig(Config):
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
    """``VECTOR_COLUMNS`` of the range's (session, symbol) rows that have a full vector."""
    first = session_dates(context.partition_keys)[0]
    # The z-scores of the earliest remembered setup need a full window of the symbol's bars before it.
    history = indicators_with_lookback(market_data, indicators, first, ZSCORE_WINDOW + config.history_sessions)
    vectors = setup_vectors(history, market_context(history))
    vectors = vectors[vectors["date"] >= calendar.session_offset(first, -config.history_sessions)]
    added = memory.remember(vectors, setup_outcomes(history, DEFAULT_HORIZON))
    in_range = vectors[vectors["date"] >= pd.Timestamp(first)].reset_index(drop=True)
    context.add_output_metadata({"memory": memory.provider, "setups_added": added, "setups_in_range": len(in_range)})
    return in_range
