"""setup_memory: the setup vector of each (session, symbol), and the memory of past setups filled with them.

A run in which a step reads the memory (the LLM selector or reviewer, the figures as JSON data; the memory
check of validated_signals when it is on) remembers the setups of its range (and of ``history_sessions``
before it) whose outcome it can see, and hands on the range's vectors; the readers ask the memory about them,
and only they. A run with no reader (the default: the deterministic policy, no review, the check off) builds
nothing and hands on an empty table, said in metadata: building costs a 500-symbol, 5-year backfill ~5 s and a
50-symbol live cycle ~5 s for nothing, and the first run that reads the memory fills ``history_sessions``
before its range. A query on session D sees only outcomes known by D's close (``domain/memory/store.py``),
whatever else the memory holds.
"""

import pandas as pd
from dagster import AssetExecutionContext, AssetKey, Config, ResourceParam
from pydantic import Field

from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.resources.bar_rules import BarRules
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.defs.resources.memory import SetupMemoryStore
from trading_pipeline.defs.resources.review import SignalReviewer
from trading_pipeline.defs.resources.selector import StrategySelector
from trading_pipeline.defs.resources.session_store import SessionParquetIOManager
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.defs.signals.indicators import indicators_with_lookback
from trading_pipeline.domain import calendar
from trading_pipeline.domain.context import market_context
from trading_pipeline.domain.memory.outcomes import DEFAULT_HORIZON, setup_outcomes
from trading_pipeline.domain.memory.vectors import ZSCORE_WINDOW, no_vectors, setup_vectors


class SetupMemoryConfig(Config):
    history_sessions: int = Field(
        default=252,
        ge=0,
        description="Sessions before the range whose setups are remembered too, so that its first sessions "
        "already have a memory (a setup is stored once: later runs over the same sessions add nothing).",
    )


@session_table("signals", deps=["indicators"])
def setup_memory(
    context: AssetExecutionContext,
    config: SetupMemoryConfig,
    session_store: ResourceParam[SessionParquetIOManager],
    market_data: MarketData,
    bar_rules: BarRules,
    memory: SetupMemoryStore,
    selector: StrategySelector,
    reviewer: SignalReviewer,
) -> pd.DataFrame:
    """``VECTOR_COLUMNS`` of the range's (session, symbol) rows that have a full vector; none when no step of
    the run reads the memory (then the indicators are not even read: a dependency, not a loaded input)."""
    readers = memory_readers(selector, reviewer, memory)
    if not readers:
        unread = "none: the selector and reviewer read no data and the memory check is off; nothing built or asked"
        context.add_output_metadata({"memory": memory.provider, "readers": unread})
        return no_vectors()
    first = session_dates(context.partition_keys)[0]
    indicators = session_store.read(AssetKey("indicators"), context.partition_keys)
    # The z-scores of the earliest remembered setup need a full window of the symbol's bars before it.
    history = indicators_with_lookback(
        market_data, bar_rules, indicators, first, ZSCORE_WINDOW + config.history_sessions
    )
    vectors = setup_vectors(history, market_context(history))
    vectors = vectors[vectors["date"] >= calendar.session_offset(first, -config.history_sessions)]
    added = memory.remember(vectors, setup_outcomes(history, DEFAULT_HORIZON))
    in_range = vectors[vectors["date"] >= pd.Timestamp(first)].reset_index(drop=True)
    context.add_output_metadata(
        {
            "memory": memory.provider,
            "readers": ", ".join(readers),
            "setups_added": added,
            "setups_in_range": len(in_range),
        }
    )
    return in_range


def memory_readers(selector: StrategySelector, reviewer: SignalReviewer, memory: SetupMemoryStore) -> list[str]:
    """The steps of a run that read the memory's figures."""
    steps = {
        f"selector {selector.provider}": selector.reads_data,
        f"reviewer {reviewer.provider}": reviewer.reads_data,
        "memory check": memory.check.enabled,
    }
    return [name for name, reads in steps.items() if reads]
