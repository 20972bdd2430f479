"""The LLM call ledger: one append-only row per LLM request or stand-in (cache hit, budget, fallback).

It is the journal side of ``domain.llm.calls.CallLedger``: the cache of valid answers, a run's spending against its
budget, the reason the last answer was refused, and each provider's recent outcomes for its circuit breaker.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

import pandas as pd
from sqlalchemy import Connection, func, select

from trading_pipeline.domain.llm.calls import REQUEST_OUTCOMES, Outcome
from trading_pipeline.journal.bulk import insert_columns
from trading_pipeline.journal.frames import RULES, DateLike, as_utc, require_label, to_session_date, validated_columns
from trading_pipeline.journal.tables import TABLES


class _Database(Protocol):
    """What the ledger uses of the journal that holds it."""

    def reading(self, operation: str) -> AbstractContextManager[Connection]: ...

    def writing(self, operation: str) -> AbstractContextManager[Connection]: ...

    def read(
        self, table: str, book: str | None = None, start: DateLike | None = None, end: DateLike | None = None
    ) -> pd.DataFrame: ...


class LLMCallLedger:
    """``llm_calls`` of one journal (``Journal.llm_calls``)."""

    def __init__(self, journal: _Database) -> None:
        self._journal = journal

    def record_llm_calls(self, book: str, run_id: str, rows: pd.DataFrame) -> int:
        """Append LLM calls (every call happened, so a re-run adds rows rather than replacing them)."""
        context = {"book": require_label("book", book), "run_id": require_label("run_id", run_id)}
        table = TABLES["llm_calls"]
        sessions = {to_session_date(s) for s in rows["session"].dropna()} if "session" in rows.columns else set()
        columns = validated_columns(table, RULES["llm_calls"], rows, sessions, context)
        with self._journal.writing(f"record llm_calls of book {book!r}") as conn:
            return insert_columns(conn, table, columns)

    def cached_llm_decision(self, step: str, prompt_hash: str) -> str | None:
        """The decision of the latest valid answer to this exact prompt (any book, any run), or None."""
        table = TABLES["llm_calls"]
        stmt = (
            select(table.c.decision)
            .where(table.c.prompt_hash == prompt_hash, table.c.step == step, table.c.outcome == str(Outcome.OK))
            .order_by(table.c.id.desc())
            .limit(1)
        )
        with self._journal.reading("read the LLM cache") as conn:
            return conn.execute(stmt).scalar()

    def llm_usage(self, run_id: str, step: str) -> tuple[int, int]:
        """Requests and tokens a run has spent on a step so far (cache hits and fallbacks cost nothing)."""
        table = TABLES["llm_calls"]
        stmt = select(func.count(), func.coalesce(func.sum(table.c.input_tokens + table.c.output_tokens), 0)).where(
            table.c.run_id == run_id, table.c.step == step, table.c.outcome.in_([str(o) for o in REQUEST_OUTCOMES])
        )
        with self._journal.reading("read the LLM usage") as conn:
            calls, tokens = conn.execute(stmt).one()
        return int(calls), int(tokens)

    def last_llm_rejection(self, run_id: str, step: str, prompt_hash: str) -> str | None:
        """Why the run's latest answer to this prompt was refused, if it was (told to the model when it retries)."""
        table = TABLES["llm_calls"]
        stmt = (
            select(table.c.error)
            .where(
                table.c.run_id == run_id,
                table.c.step == step,
                table.c.prompt_hash == prompt_hash,
                table.c.outcome == str(Outcome.INVALID),
            )
            .order_by(table.c.id.desc())
            .limit(1)
        )
        with self._journal.reading("read the last LLM rejection") as conn:
            return conn.execute(stmt).scalar()

    def recent_llm_outcomes(self, provider: str, limit: int) -> list[tuple[str, datetime]]:
        """The outcomes and times of the provider's last ``limit`` requests, oldest first (for its circuit breaker)."""
        table = TABLES["llm_calls"]
        stmt = (
            select(table.c.outcome, table.c.created_at)
            .where(table.c.provider == provider, table.c.outcome.in_([str(o) for o in REQUEST_OUTCOMES]))
            .order_by(table.c.id.desc())
            .limit(limit)
        )
        with self._journal.reading("read the LLM outcomes") as conn:
            rows = conn.execute(stmt).all()
        return [(outcome, as_utc(at)) for outcome, at in reversed(rows)]

    def recorded_choices(self, book: str, start: DateLike, end: DateLike) -> pd.DataFrame:
        """The strategy choices journaled for ``book`` in [start, end] (what ``ReplaySelector`` serves)."""
        return self._journal.read("strategy_choices", book=book, start=start, end=end)
