"""The journal resource: a SQLite file under DAGSTER_HOME unless a database URL is configured."""

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from trading_pipeline.journal import DateLike, Journal

JOURNAL_URL_VARIABLE = "TRADING_JOURNAL_URL"


def default_journal_url(dagster_home: Path) -> str:
    """The SQLite journal of an instance: where the journal lives when no URL is configured."""
    return f"sqlite:///{dagster_home / 'trading_pipeline' / 'journal.db'}"


def journal_url(dagster_home: Path, configured: str | None = None) -> str:
    """The journal's URL: the configured one, else ``$TRADING_JOURNAL_URL`` (read at run time: a deployment's
    password never enters the definitions), else the instance's SQLite journal. The CLI resolves it so too."""
    return configured or os.environ.get(JOURNAL_URL_VARIABLE) or default_journal_url(dagster_home)


class JournalResource(ConfigurableResource):
    """Orders, fills, positions, equity, risk events and book states of every book."""

    url: str | None = Field(
        default=None,
        description=f"SQLAlchemy URL; None: ${JOURNAL_URL_VARIABLE}, else sqlite:///<DAGSTER_HOME>/trading_pipeline/journal.db.",
    )
    _journal: Journal | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        root = Path(context.instance.root_directory) if context.instance else Path.cwd()
        self._journal = Journal(journal_url(root, self.url))
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
