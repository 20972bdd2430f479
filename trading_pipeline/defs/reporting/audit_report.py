"""audit_report: each session's narrative (decisions, rejections, fills, P&L, risk events) from the journal.

Written by the ``narrator`` resource in an op that retries (an Anthropic answer may be refused and asked
again); stored in the journal (audit_reports) and shown as Markdown in the UI.
"""

import pandas as pd
from dagster import AssetIn, In, MetadataValue, Nothing, OpExecutionContext, Out, graph_asset, op

from trading_pipeline.defs.llm_steps import llm_run, outcome_table, retry_only_invalid_answers
from trading_pipeline.defs.partitions import ranged, session_dates, sessions_partitions, single_run
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.llm import LLM_OP_RETRY
from trading_pipeline.defs.resources.narrative import AuditNarrator
from trading_pipeline.domain.calendar import previous_session
from trading_pipeline.domain.llm.audit import session_facts

# A range's metadata shows its last sessions' narratives; the journal keeps every one.
SHOWN_SESSIONS = 3


@op(
    retry_policy=LLM_OP_RETRY,
    ins={"portfolio": In(Nothing), "strategy_selection": In(pd.DataFrame)},
    out=Out(Nothing),
)
def write_audit(
    context: OpExecutionContext,
    strategy_selection: pd.DataFrame,
    narrator: AuditNarrator,
    journal: JournalResource,
    trading: TradingBook,
):
    sessions = session_dates(context.partition_keys)
    book = journal.book(context, trading.book)
    start, end = sessions[0], sessions[-1]
    # The decisions are the strategy_selection asset's rows (the journal keeps only an LLM's, which cannot be redone).
    choice_counts = (
        strategy_selection.groupby(["date", "strategy", "provider", "outcome"], observed=True)
        .size()
        .reset_index(name="rows")
        .rename(columns={"date": "session"})
    )
    facts = session_facts(
        trading.book,
        sessions,
        choice_counts=choice_counts,
        orders=book.read("orders", start=start, end=end),
        fills=book.read("fills", start=start, end=end),
        risk_events=book.read("risk_events", start=start, end=end),
        equity=book.read("equity", start=previous_session(start), end=end),
    )
    with retry_only_invalid_answers():
        narratives = narrator.write(facts, llm_run(context, journal, trading))
    book.replace("audit_reports", sessions, narratives.drop(columns=["outcome"]))
    shown = narratives.tail(SHOWN_SESSIONS)
    context.add_output_metadata(
        {
            "book": trading.book,
            "sessions": len(narratives),
            "narrated_by": outcome_table(narratives["provider"] + "/" + narratives["outcome"], "narrator"),
            "narrative": MetadataValue.md("\n\n".join(shown["markdown"])),
        }
    )


@ranged(graph_asset)(
    ins={
        "portfolio": AssetIn(dagster_type=Nothing),
        "strategy_selection": AssetIn(metadata={"columns": ["strategy", "provider", "outcome"]}),
    },
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    group_name="reporting",
)
def audit_report(portfolio, strategy_selection):
    """The day's narrative per session, for the book's audit trail."""
    return write_audit(portfolio=portfolio, strategy_selection=strategy_selection)
