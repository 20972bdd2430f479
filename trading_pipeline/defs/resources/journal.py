"""The journal resource: a SQLite file under DAGSTER_HOME unless a database URL is configured, and each run's
journal of its book (``book``): locked for the run, staged until the run commits (``journal.books``)."""

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from dagster import AssetKey, ConfigurableResource, DagsterInstance, InitResourceContext
from pydantic import Field, PrivateAttr

from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.tags import FRESH_BOOK_TAG
from trading_pipeline.journal import Journal, JournalError
from trading_pipeline.journal.books import HEARTBEAT_EVERY, BookJournal, LockHolder, RunScope, stale_heartbeat

JOURNAL_URL_VARIABLE = "TRADING_JOURNAL_URL"
# The daily cycle's last step: a run that includes it keeps its rows apart until that step commits them.
COMMIT_STEP = AssetKey("performance_report")

logger = logging.getLogger(__name__)


def default_journal_url(dagster_home: Path) -> str:
    """The SQLite journal of an instance: where the journal lives when no URL is configured."""
    return f"sqlite:///{dagster_home / 'trading_pipeline' / 'journal.db'}"


def journal_url(dagster_home: Path, configured: str | None = None) -> str:
    """The journal's URL: the configured one, else ``$TRADING_JOURNAL_URL`` (read at run time: a deployment's
    password never enters the definitions), else the instance's SQLite journal. The CLI resolves it so too."""
    return configured or os.environ.get(JOURNAL_URL_VARIABLE) or default_journal_url(dagster_home)


def holder_gone(instance: DagsterInstance, holder: LockHolder) -> str | None:
    """Why the run holding a book's lock is gone, or None if it may still be writing: its run has ended in this
    instance, its process on this host has died, or it has not shown it was alive for a minute (another host)."""
    run = instance.get_run_by_id(holder.run_id)
    if run is not None and run.is_finished:
        return f"run {holder.run_id} ended {run.status.value}"
    if holder.host == socket.gethostname() and not process_alive(holder.pid):
        return f"its process {holder.pid} on {holder.host} is gone"
    return stale_heartbeat(holder)


def process_alive(pid: int) -> bool:
    """A process of this host that can still run (a killed child not yet reaped by its parent is a zombie: gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc to ask: kill(pid, 0) said it exists
    return state not in ("Z", "X")


class JournalResource(ConfigurableResource):
    """Orders, fills, positions, equity, risk events and book states of every book."""

    url: str | None = Field(
        default=None,
        description=f"SQLAlchemy URL; None: ${JOURNAL_URL_VARIABLE}, else sqlite:///<DAGSTER_HOME>/trading_pipeline/journal.db.",
    )
    _journal: Journal | None = PrivateAttr(default=None)
    _books: dict[str, BookJournal] = PrivateAttr(default_factory=dict)
    _stop: threading.Event = PrivateAttr(default_factory=threading.Event)
    _heartbeat: threading.Thread | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        root = Path(context.instance.root_directory) if context.instance else Path.cwd()
        self._journal = Journal(journal_url(root, self.url))
        self._journal.create_schema()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """The run is over (succeeded or not): its locks go back; what it never committed stays out of the books."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        for opened in self._books.values():
            opened.release()

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            raise RuntimeError("JournalResource used outside a Dagster execution (no setup_for_execution)")
        return self._journal

    def book(self, context, book: str, sessions: Sequence[date] | None = None) -> BookJournal:
        """The run's journal of ``book`` over the run's sessions (``sessions`` for an unpartitioned op), opened
        (locked, recorded) on first use. Raises ``BookLocked`` while another live run writes the book."""
        opened = self._books.get(book)
        if opened is not None:
            return opened
        days = list(sessions) if sessions is not None else session_dates(context.partition_keys)
        run = context.run
        scope = RunScope(
            book=book,
            run_id=run.run_id,
            staged=COMMIT_STEP in context.job_def.asset_layer.selected_asset_keys,
            first=days[0],
            last=days[-1],
            fresh=run.tags.get(FRESH_BOOK_TAG) == "true",
        )
        opened = BookJournal(self.journal, scope)
        instance = context.instance
        opened.open(os.getpid(), socket.gethostname(), gone=lambda holder: holder_gone(instance, holder))
        self._books[book] = opened
        self._keep_alive()
        return opened

    @contextmanager
    def outside_a_run(self, instance: DagsterInstance, book: str, writer: str) -> Iterator[BookJournal]:
        """``book`` locked for a writer that is no run (a sensor's tick), written directly, released at the end."""
        opened = BookJournal(self.journal, RunScope(book=book, run_id=f"{writer}:{uuid.uuid4().hex[:12]}"))
        opened.open(os.getpid(), socket.gethostname(), gone=lambda holder: holder_gone(instance, holder))
        try:
            yield opened
        finally:
            opened.release()

    def _keep_alive(self) -> None:
        """Refresh the held locks' heartbeats while the run goes on (a killed run stops, and its lock goes stale)."""
        if self._heartbeat is not None:
            return

        def beat() -> None:
            while not self._stop.wait(HEARTBEAT_EVERY.total_seconds()):
                for opened in list(self._books.values()):
                    try:
                        opened.heartbeat()
                    except JournalError as exc:  # the lock may go stale; the commit re-checks who holds it
                        logger.warning("heartbeat of book %s failed: %s", opened.book, exc)

        self._heartbeat = threading.Thread(target=beat, name="journal-heartbeat", daemon=True)
        self._heartbeat.start()
