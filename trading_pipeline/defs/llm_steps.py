"""What every LLM op shares: the run context it hands its provider, and the outcome counts it shows."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pandas as pd
from dagster import Failure, MetadataValue, OpExecutionContext

from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.domain.llm.answers import InvalidAnswer
from trading_pipeline.domain.llm.calls import LLMRun


def llm_run(context: OpExecutionContext, journal: JournalResource, trading: TradingBook) -> LLMRun:
    """The op's last allowed attempt falls back instead of raising, so a run never fails on a bad answer."""
    policy = context.op_def.retry_policy
    final = policy is None or context.retry_number >= policy.max_retries
    return LLMRun(ledger=journal.journal.llm_calls, book=trading.book, run_id=context.run.run_id, final_attempt=final)


def outcome_table(outcomes: Iterable[str], label: str = "outcome") -> MetadataValue:
    """Rows per outcome, counted by pandas (a backtest's selection has hundreds of thousands of rows)."""
    counts = pd.Series(outcomes, dtype="str").value_counts().sort_index()
    rows = "\n".join(f"| {name} | {count} |" for name, count in counts.items())
    return MetadataValue.md(f"| {label} | rows |\n|---|---:|\n{rows}" if len(counts) else "none")


@contextmanager
def retry_only_invalid_answers() -> Iterator[None]:
    """The op's RetryPolicy is for answers a model may get right next time; bad input (an unknown regime, a
    range the replay has not recorded) fails at once, with its message."""
    try:
        yield
    except InvalidAnswer:
        raise
    except ValueError as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
