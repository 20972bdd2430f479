"""The journal resource: a SQLite file under DAGSTER_HOME unless a database URL is configured."""

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from trading_pipeline.domain.journal import DateLike, Journal


def default_journal_url(dagster_home: Path) -> str:
    """Where the journal lives when no URL is configured (the CLI resolves it the same way)."""
    return f"sqlite:///{dagster_home / 'trading_pipeline' / 'journal.db'}"


class JournalResource(ConfigurableResource):
    """Orders, fills, positions, equity, risk events and book states of every book."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; None means sqlite:///<DAGSTER_HOME>/trading_pipeline/journal.db.",
    )
    _journal: Journal | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        root = Path(context.instance.root_directory) if context.instance else Path.cwd()
        self._journal = Journal(self.url or default_journal_url(root))
        self._journal.create_schema()

    def record_risk_events(
        self, book: str, sessions: Iterable[DateLike], source: str, events: pd.DataFrame, run_id: str
    ) -> int:
        """Journal domain risk events or check violations (their ``limit`` is the journal's ``limit_value``)."""
        return self.journal.record_risk_events(
            book, sessions, source, events.rename(columns={"limit": "limit_value"}), run_id
        )

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            raise RuntimeError("JournalResource used outside a Dagster execution (no setup_for_execution)")
        return self._journal
