"""strategy_selection: one strategy of the closed set per (session, symbol), chosen by an op that retries."""

import numpy as np
import pandas as pd
from dagster import In, MetadataValue, OpExecutionContext, Out, graph_asset, op

from trading_pipeline.defs.llm_steps import llm_run, outcome_table, retry_only_invalid_answers
from trading_pipeline.defs.partitions import ranged, session_dates, sessions_partitions, single_run
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.llm import LLM_OP_RETRY
from trading_pipeline.defs.resources.memory import SetupMemoryStore
from trading_pipeline.defs.resources.selector import CHOICE_COLUMNS, StrategySelector
from trading_pipeline.defs.resources.strategies import StrategyCatalog
from trading_pipeline.domain.llm.calls import RULES_OUTCOME
from trading_pipeline.domain.memory.summary import with_memory


@op(
    retry_policy=LLM_OP_RETRY,
    ins={"market_context": In(pd.DataFrame), "setup_memory": In(pd.DataFrame)},
    out=Out(pd.DataFrame, io_manager_key="session_store"),
)
def select_strategies(
    context: OpExecutionContext,
    market_context: pd.DataFrame,
    setup_memory: pd.DataFrame,
    selector: StrategySelector,
    journal: JournalResource,
    trading: TradingBook,
    strategies: StrategyCatalog,
    memory: SetupMemoryStore,
):
    """Anything outside the registered strategies is refused here, whatever the selector answered. The asset's
    session tables are the record of every choice; the journal keeps those an LLM made or a replay served
    (strategy_choices), which no rerun could make again. The deterministic policy's are recomputed at will.
    A model also sees each symbol's similar past setups and the market context's news sentiment (numbers only,
    as data); for the deterministic policy, which reads neither, the memory is not asked."""
    available = strategies.names
    data = market_context
    if selector.reads_data:
        data = with_memory(market_context, memory.answers(setup_memory))
    with retry_only_invalid_answers():
        selection = selector.select(data, available, llm_run(context, journal, trading))
    unknown = sorted(set(selection["strategy"].unique()) - set(available))
    if unknown:
        raise ValueError(f"selector {selector.provider} chose strategies outside the allowed set: {unknown}")
    sessions = session_dates(context.partition_keys)
    # In session order (stable): the journal's (book, session) index then grows at its end, a fifth faster
    # to write at a backtest's ~600k choices than rows arriving symbol by symbol.
    recorded = selection[selection["outcome"] != RULES_OUTCOME]
    in_session_order = recorded.take(np.argsort(recorded["date"].to_numpy(), kind="stable"))
    journal.book(context, trading.book).replace(
        "strategy_choices", sessions, in_session_order.rename(columns={"date": "session"})
    )
    counts = selection["strategy"].value_counts().rename_axis("strategy").reset_index(name="rows")
    context.add_output_metadata(
        {
            "selector": selector.provider,
            "choices": MetadataValue.md(counts.to_markdown(index=False)),
            "decided_by": outcome_table(selection["outcome"]),
        }
    )
    return selection[CHOICE_COLUMNS]  # who chose and how: the session tables are the record of every choice


@ranged(graph_asset)(
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    group_name="signals",
    kinds={"pandas"},
)
def strategy_selection(market_context: pd.DataFrame, setup_memory: pd.DataFrame) -> pd.DataFrame:
    """Which deterministic strategy decides each (session, symbol)."""
    return select_strategies(market_context, setup_memory)
