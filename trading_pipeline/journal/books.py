"""One run's journal of one book: one writer at a time, and results that replace the book's only when the run commits.

A run that ends with its own report (the daily cycle, a backtest) is *staged*: its rows are written under the
book's staging key, ``<book>#<run_id>``, and its reads see its own rows over the book's committed rows of other
sessions (none at all for a fresh run, which replaces the whole book). ``commit`` then makes them the book's rows in
one transaction: the committed rows of the run's sessions (every row, for a fresh run) are deleted and the staged
rows take the book's name. A run that fails or is killed before it commits leaves the book as it was; its staged rows
are swept when the book's next run opens it. A run with a real broker commits as soon as its orders are out, so the
journal never loses an order the broker has: from then on its writes go to the book directly.

A book has one writer: ``open`` takes the book's lock for the run or refuses with the run that holds it, unless that
run is gone (finished, its process dead, or silent past ``STALE_AFTER``), in which case the lock is taken over. The
holder refreshes ``heartbeat_at`` while it runs. A book's kind (simulated, paper, live) is fixed by its first commit:
a simulated run never writes a paper or live book, so no backtest can reset a trading book.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import and_, delete, false, insert, or_, select, update

from trading_pipeline.journal.bulk import insert_if_absent
from trading_pipeline.journal.frames import DateLike, as_utc, to_session_date
from trading_pipeline.journal.store import Journal
from trading_pipeline.journal.tables import (
    TABLES,
    BookLockRow,
    BookRow,
    BookRunRow,
    OrderStatus,
    OrderStatusUpdateRow,
)

STAGE_SEPARATOR = "#"
BOOK_KINDS = ("simulated", "paper", "live")
# The tables a run's results are made of (the LLM call log is not: every call happened, it is appended directly).
BOOK_TABLES = (
    "orders",
    "fills",
    "positions",
    "equity",
    "risk_events",
    "book_states",
    "audit_reports",
    "strategy_choices",
    "watchlist",
    "watchlist_returns",
)
# A holder that has not refreshed its heartbeat for this long is gone (it refreshes every HEARTBEAT_EVERY).
HEARTBEAT_EVERY = timedelta(seconds=10)
STALE_AFTER = timedelta(seconds=60)


class BookLocked(RuntimeError):
    """Another run is writing the book; the message names it and since when."""


class BookKindError(ValueError):
    """A run of one kind on a book of another (e.g. a backtest on a paper trading book)."""


@dataclass(frozen=True)
class LockHolder:
    book: str
    run_id: str
    pid: int
    host: str
    acquired_at: datetime
    heartbeat_at: datetime

    def describe(self) -> str:
        return f"run {self.run_id} since {self.acquired_at:%Y-%m-%d %H:%M:%S} UTC (pid {self.pid} on {self.host})"


# Why the holder of a lock is gone (its run finished, its process died...), or None if it may still be writing.
GoneCheck = Callable[[LockHolder], str | None]


def validate_book_name(book: str) -> str:
    """A book name as the journal accepts it (the staging separator is reserved)."""
    if not isinstance(book, str) or not book.strip() or book != book.strip() or STAGE_SEPARATOR in book:
        raise ValueError(
            f"a book name must be non-empty, without surrounding spaces and without {STAGE_SEPARATOR!r}: {book!r}"
        )
    return book


@dataclass(frozen=True)
class RunScope:
    """What one run writes: ``book`` directly, or staged over its sessions ``first``..``last`` (replacing the whole
    book if ``fresh``) until it commits."""

    book: str
    run_id: str
    staged: bool = False
    first: date | None = None
    last: date | None = None
    fresh: bool = False

    def __post_init__(self) -> None:
        validate_book_name(self.book)
        if self.fresh and not self.staged:
            raise ValueError("a fresh run replaces the whole book, so it must be staged until it commits")
        if self.staged and (self.first is None or self.last is None or self.first > self.last):
            raise ValueError(f"a staged run needs its sessions in order, got {self.first}..{self.last}")

    @property
    def stage(self) -> str:
        return f"{self.book}{STAGE_SEPARATOR}{self.run_id}"


class BookJournal:
    """The journal as one run of one book sees and writes it."""

    def __init__(self, journal: Journal, scope: RunScope) -> None:
        self.journal, self.scope = journal, scope
        self._staged = scope.staged

    @property
    def book(self) -> str:
        return self.scope.book

    @property
    def staged(self) -> bool:
        """Whether the run's writes are still apart from the book (until it commits)."""
        return self._staged

    @property
    def _key(self) -> str:
        return self.scope.stage if self._staged else self.scope.book

    # ---- life cycle -------------------------------------------------------------------------------------------

    def open(self, pid: int, host: str, gone: GoneCheck) -> None:
        """Take the book's lock for the run (or refuse), record the run, and sweep the rows of runs that never
        committed. Opening again in the same run is a no-op."""
        acquire_lock(self.journal, self.scope.book, self.scope.run_id, pid, host, gone)
        if not self.scope.staged:
            return
        with self.journal.writing(f"open book {self.book!r} for run {self.scope.run_id}") as conn:
            table = BookRunRow.__table__
            known = conn.execute(select(table.c.status).where(table.c.run_id == self.scope.run_id)).scalar()
            if known is not None:
                self._staged = known == "writing"  # a step of a run that has committed already writes directly
                return
            # Runs that never committed (failed, blocked by a check, killed) are abandoned. The rows of the latest
            # one stay for inspection (``run_rows``: why was it blocked?) until another run is abandoned.
            conn.execute(
                update(table)
                .where(table.c.book == self.book, table.c.status == "writing")
                .values(status="abandoned", finished_at=_now())
            )
            abandoned = conn.execute(
                select(table.c.run_id)
                .where(table.c.book == self.book, table.c.status == "abandoned")
                .order_by(table.c.started_at.desc())
            ).scalars()
            for run_id in list(abandoned)[1:]:
                _delete_rows(conn, f"{self.book}{STAGE_SEPARATOR}{run_id}")
                conn.execute(update(table).where(table.c.run_id == run_id).values(status="swept"))
            conn.execute(
                insert(table),
                [
                    {
                        "run_id": self.scope.run_id,
                        "book": self.book,
                        "staged": self.scope.staged,
                        "fresh": self.scope.fresh,
                        "first_session": self.scope.first,
                        "last_session": self.scope.last,
                        "status": "writing",
                        "started_at": _now(),
                        "finished_at": None,
                    }
                ],
            )

    def heartbeat(self) -> None:
        """The holder is alive (called every ``HEARTBEAT_EVERY`` while the run holds the lock)."""
        table = BookLockRow.__table__
        with self.journal.writing(f"heartbeat of book {self.book!r}") as conn:
            conn.execute(
                update(table)
                .where(table.c.book == self.book, table.c.run_id == self.scope.run_id)
                .values(heartbeat_at=_now())
            )

    def release(self) -> None:
        """Give the lock back (only this run's: a lock taken over meanwhile stays with its new holder)."""
        table = BookLockRow.__table__
        with self.journal.writing(f"release book {self.book!r}") as conn:
            conn.execute(delete(table).where(table.c.book == self.book, table.c.run_id == self.scope.run_id))

    def commit(self, kind: str, initial_capital: float) -> None:
        """Make the run's staged rows the book's, in one transaction; later writes of the run go to the book.

        ``kind`` is the book's kind as this run trades it: a book keeps the kind of its first commit, and a
        mismatch (a simulated run on a paper or live book) is refused before anything changes. A fresh run also
        records its ``initial_capital`` as the book's (where an audit of the journal starts from).
        """
        if kind not in BOOK_KINDS:
            raise ValueError(f"book kind must be one of {BOOK_KINDS}, got {kind!r}")
        scope = self.scope
        with self.journal.writing(f"commit run {scope.run_id} to book {self.book!r}") as conn:
            holder = _holder(conn, self.book)
            if holder is None or holder.run_id != scope.run_id:
                raise BookLocked(
                    f"run {scope.run_id} no longer holds book {self.book!r}"
                    + (f": {holder.describe()} took it over" if holder else "")
                    + "; nothing was committed"
                )
            _register(conn, self.book, kind, initial_capital, replace=scope.fresh)
            if self._staged:
                for name in BOOK_TABLES:
                    table = TABLES[name]
                    replaced = table.c.book == self.book
                    if not scope.fresh:
                        replaced = and_(replaced, table.c.session.between(scope.first, scope.last))
                    conn.execute(delete(table).where(replaced))
                    conn.execute(update(table).where(table.c.book == scope.stage).values(book=self.book))
                _apply_status_updates(conn, scope.stage, self.book)
            runs = BookRunRow.__table__
            conn.execute(
                update(runs).where(runs.c.run_id == scope.run_id).values(status="committed", finished_at=_now())
            )
        self._staged = False

    # ---- writes -------------------------------------------------------------------------------------------------

    @contextmanager
    def transaction(self, operation: str) -> Iterator[None]:
        """Every write of the block in one transaction (a session's orders, fills, positions, equity, states)."""
        with self.journal.transaction(f"{operation} of book {self.book!r}"):
            yield

    def replace(self, table: str, sessions: Iterable[DateLike], rows: pd.DataFrame, source: str | None = None) -> int:
        """Replace the run's rows of ``table`` for ``sessions`` (of step ``source``, for risk events)."""
        rows = rows.drop(columns=["book"], errors="ignore")
        return self.journal.replace_rows(table, self._key, sessions, rows, self.scope.run_id, source=source)

    def add(self, table: str, rows: pd.DataFrame) -> int:
        """Add rows to the run's ``table`` without replacing any (orders a halt placed)."""
        return self.journal.add_rows(table, self._key, rows.drop(columns=["book"], errors="ignore"), self.scope.run_id)

    def record_risk_events(self, sessions: Iterable[DateLike], source: str, events: pd.DataFrame) -> int:
        """Domain risk events or check violations (their ``limit`` is the journal's ``limit_value``)."""
        return self.replace("risk_events", sessions, events.rename(columns={"limit": "limit_value"}), source=source)

    def save_book_states(self, states: Mapping[DateLike, Mapping[str, Any]]) -> int:
        return self.journal.save_book_states(self._key, states, self.scope.run_id)

    def update_order_status(self, statuses: Mapping[str, str]) -> int:
        """New statuses of orders an earlier run journaled; staged, they wait in ``order_status_updates``."""
        if not self._staged:
            return self.journal.update_order_status(self.book, statuses)
        allowed = {s.value for s in OrderStatus}
        bad = sorted({s for s in statuses.values() if s not in allowed})
        if bad:
            raise ValueError(f"orders: unknown status {bad}; allowed: {sorted(allowed)}")
        known = set(self.read("orders")["client_order_id"])
        unknown = sorted(set(statuses) - known)
        if unknown:
            raise ValueError(
                f"orders: {len(unknown)} of {len(statuses)} order ids are not orders of book {self.book!r}"
            )
        table = OrderStatusUpdateRow.__table__
        with self.journal.writing(f"stage order statuses of book {self.book!r}") as conn:
            conn.execute(delete(table).where(table.c.book == self.scope.stage, table.c.client_order_id.in_(statuses)))
            if statuses:
                conn.execute(
                    insert(table),
                    [{"book": self.scope.stage, "client_order_id": i, "status": s} for i, s in statuses.items()],
                )
        return len(statuses)

    # ---- reads ------------------------------------------------------------------------------------------------

    def read(self, table: str, start: DateLike | None = None, end: DateLike | None = None) -> pd.DataFrame:
        """The book's rows of ``table`` as this run sees them: its own over the committed rows of other sessions."""
        frame = self.journal.select(table, self._rows(TABLES[table]), start, end)
        if not self._staged:
            return frame
        frame["book"] = self.book
        if table == "orders" and len(frame):
            frame["status"] = frame["client_order_id"].map(self._status_updates()).fillna(frame["status"])
        return frame

    def load_state(self, before: DateLike) -> tuple[date, dict[str, Any]] | None:
        """The latest book state saved strictly before ``before`` (fresh capital for a fresh run: None)."""
        table = TABLES["book_states"]
        stmt = (
            select(table.c.session, table.c.state)
            .where(self._rows(table), table.c.session < to_session_date(before))
            .order_by(table.c.session.desc())
            .limit(1)
        )
        with self.journal.reading(f"load the book state of {self.book!r}") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else (row.session, json.loads(row.state))

    def strategy_choice_counts(
        self, start: DateLike | None = None, end: DateLike | None = None, outcome: str | None = None
    ) -> pd.DataFrame:
        """Choices per session, strategy, provider and outcome (counted in the database: a backtest has many)."""
        return self.journal.strategy_choice_counts(self._rows(TABLES["strategy_choices"]), start, end, outcome)

    def _rows(self, table):
        """The rows this run sees: while staged, its own and the committed ones outside its sessions."""
        if not self._staged:
            return table.c.book == self.book
        scope = self.scope
        committed = (
            false()
            if scope.fresh
            else and_(table.c.book == self.book, or_(table.c.session < scope.first, table.c.session > scope.last))
        )
        return or_(table.c.book == scope.stage, committed)

    def _status_updates(self) -> dict[str, str]:
        table = OrderStatusUpdateRow.__table__
        with self.journal.reading("read staged order statuses") as conn:
            rows = conn.execute(
                select(table.c.client_order_id, table.c.status).where(table.c.book == self.scope.stage)
            ).all()
        return dict(rows)


def acquire_lock(journal: Journal, book: str, run_id: str, pid: int, host: str, gone: GoneCheck) -> None:
    """Hold ``book`` for ``run_id``: free, already ours, or taken over from a holder that is gone; else refuse."""
    table = BookLockRow.__table__
    for _ in range(2):  # a second pass only after losing a race to insert the first lock row
        with journal.writing(f"lock book {book!r}") as conn:
            holder = _holder(conn, book)
            now = _now()
            if holder is None:
                row = {
                    "book": book,
                    "run_id": run_id,
                    "pid": pid,
                    "host": host,
                    "acquired_at": now,
                    "heartbeat_at": now,
                }
                if insert_if_absent(conn, table, row):
                    return
                continue
            if holder.run_id == run_id:
                return
            why = gone(holder)
            if why is None:
                raise BookLocked(f"book {book!r} is being written by {holder.describe()}")
            taken = conn.execute(
                update(table)
                .where(table.c.book == book, table.c.run_id == holder.run_id)
                .values(run_id=run_id, pid=pid, host=host, acquired_at=now, heartbeat_at=now)
            ).rowcount
            if taken == 1:
                return
    raise BookLocked(f"book {book!r}: another run took the lock at the same moment; try again")


def run_rows(journal: Journal, book: str, run_id: str, table: str) -> pd.DataFrame:
    """What one run wrote to ``book``'s ``table``, committed or not (the latest abandoned run's rows are kept)."""
    sql_table = TABLES[table]
    committed = and_(sql_table.c.book == book, sql_table.c.run_id == run_id)
    frame = journal.select(table, or_(sql_table.c.book == f"{book}{STAGE_SEPARATOR}{run_id}", committed))
    return frame.assign(book=book)


def lock_holders(journal: Journal) -> list[LockHolder]:
    """Every book's current lock holder."""
    table = BookLockRow.__table__
    with journal.reading("read the book locks") as conn:
        books = conn.execute(select(table.c.book).order_by(table.c.book)).scalars().all()
        return [holder for book in books if (holder := _holder(conn, book)) is not None]


def release_lock(journal: Journal, holder: LockHolder) -> bool:
    """Free a book from ``holder`` (found gone); False if another run took it meanwhile."""
    table = BookLockRow.__table__
    with journal.writing(f"release book {holder.book!r}") as conn:
        released = conn.execute(delete(table).where(table.c.book == holder.book, table.c.run_id == holder.run_id))
        return released.rowcount == 1


def lock_holder(journal: Journal, book: str) -> LockHolder | None:
    """Who holds ``book`` now (None: nobody)."""
    with journal.reading(f"read the lock of book {book!r}") as conn:
        return _holder(conn, book)


def stale_heartbeat(holder: LockHolder, now: datetime | None = None) -> str | None:
    """The holder is gone if it has not shown it was alive for ``STALE_AFTER``."""
    silent = (now or _now()) - holder.heartbeat_at
    return f"no heartbeat for {silent.total_seconds():.0f} s" if silent > STALE_AFTER else None


def book_kind(journal: Journal, book: str) -> str | None:
    """The kind a book was first committed as (None: never committed)."""
    table = BookRow.__table__
    with journal.reading(f"read the kind of book {book!r}") as conn:
        return conn.execute(select(table.c.kind).where(table.c.name == book)).scalar()


def book_capital(journal: Journal, book: str) -> float | None:
    """The initial capital a book was (last freshly) committed with (None: never committed)."""
    table = BookRow.__table__
    with journal.reading(f"read the capital of book {book!r}") as conn:
        return conn.execute(select(table.c.initial_capital).where(table.c.name == book)).scalar()


def committed_books(journal: Journal) -> list[str]:
    """Every book that has committed a run, sorted."""
    table = BookRow.__table__
    with journal.reading("list the committed books") as conn:
        return list(conn.execute(select(table.c.name).order_by(table.c.name)).scalars())


def committed_equity(journal: Journal, books: Sequence[str], end: DateLike) -> pd.DataFrame:
    """The committed equity rows of ``books`` up to ``end`` (an account's other books, as they stand)."""
    return journal.select("equity", TABLES["equity"].c.book.in_(list(books)), end=end)


def _holder(conn, book: str) -> LockHolder | None:
    table = BookLockRow.__table__
    row = conn.execute(
        select(
            table.c.book, table.c.run_id, table.c.pid, table.c.host, table.c.acquired_at, table.c.heartbeat_at
        ).where(table.c.book == book)
    ).first()
    if row is None:
        return None
    return LockHolder(row.book, row.run_id, row.pid, row.host, as_utc(row.acquired_at), as_utc(row.heartbeat_at))


def _register(conn, book: str, kind: str, initial_capital: float, replace: bool) -> None:
    table = BookRow.__table__
    known = conn.execute(select(table.c.kind).where(table.c.name == book)).scalar()
    if known is None:
        row = {"name": book, "kind": kind, "initial_capital": initial_capital, "created_at": _now()}
        conn.execute(insert(table), [row])
    elif known != kind:
        raise BookKindError(f"book {book!r} is a {known} book: a {kind} run may not write it; nothing was committed")
    elif replace:
        conn.execute(update(table).where(table.c.name == book).values(initial_capital=initial_capital))


def _apply_status_updates(conn, stage: str, book: str) -> None:
    updates = OrderStatusUpdateRow.__table__
    orders = TABLES["orders"]
    for client_order_id, status in conn.execute(
        select(updates.c.client_order_id, updates.c.status).where(updates.c.book == stage)
    ).all():
        conn.execute(
            update(orders)
            .where(orders.c.book == book, orders.c.client_order_id == client_order_id)
            .values(status=status)
        )
    conn.execute(delete(updates).where(updates.c.book == stage))


def _delete_rows(conn, key: str) -> None:
    for name in BOOK_TABLES:
        table = TABLES[name]
        conn.execute(delete(table).where(table.c.book == key))
    updates = OrderStatusUpdateRow.__table__
    conn.execute(delete(updates).where(updates.c.book == key))


def _now() -> datetime:
    return datetime.now(UTC)
