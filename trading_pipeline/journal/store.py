"""The journal: the system of record of every book (orders, fills, positions, equity, risk events, book states).

Every row carries its ``book``, its ``session`` (the trading date) and the ``run_id`` that wrote it. Steps are
re-executed (retries, backfills), so every write replaces that step's rows for the given sessions in one
transaction (delete (book, sessions[, source]) then bulk insert) and never duplicates them. Frames are validated in
full before the transaction opens (``frames``): a bad frame raises ``ValueError`` and leaves the journal as it was.

The SQL is portable SQLAlchemy 2.0, so the same code runs on SQLite files and on PostgreSQL (``postgresql+psycopg://``;
a bare ``postgresql://`` URL gets psycopg 3 too). The schema is versioned by the Alembic migrations of
``trading_pipeline.journal.migrations``; ``create_schema`` brings a database to their head.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    URL,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Double,
    Engine,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    make_url,
    select,
    union,
    update,
)
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError

from trading_pipeline.journal.bulk import fetch_rows, insert_columns, to_datetimes
from trading_pipeline.journal.frames import (
    RULES,
    DateLike,
    duplicates,
    require_label,
    show,
    to_session_date,
    validated_columns,
)
from trading_pipeline.journal.llm_ledger import LLMCallLedger
from trading_pipeline.journal.migrations import upgrade_to_head
from trading_pipeline.journal.tables import TABLES, AlertRow, BacktestRow, OrderStatus

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A PostgreSQL server that does not answer fails the step within this, with a message, instead of hanging it.
CONNECT_TIMEOUT_S = 10.0
# Bound parameters per DELETE ... IN (...): far below SQLite's and PostgreSQL's limits, even for long backfills.
_DELETE_CHUNK = 500


class JournalError(RuntimeError):
    """The journal database cannot be reached or written (the URL in the message never shows a password)."""


def masked_url(url: str | URL) -> str:
    """The URL as it may be shown in logs and errors: password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, TypeError, ValueError):
        return "<unparseable database URL>"


class Journal:
    """The journal of one database; the engine is created once and shared by all operations."""

    def __init__(self, url: str, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        try:
            parsed = make_url(url)
        except (ArgumentError, TypeError, ValueError):
            # The unparsed text may hold a password, so neither it nor the parser's message is shown.
            raise ValueError("the journal URL is not a valid SQLAlchemy database URL") from None
        parsed = _with_driver(parsed)
        self._url = parsed
        self.url = parsed.render_as_string(hide_password=True)
        is_sqlite = parsed.get_backend_name() == "sqlite"
        if is_sqlite and parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._error("create the database directory", exc) from exc
        try:
            # pre_ping: a pooled PostgreSQL connection dropped by a server restart is replaced, not reused.
            connect_args = {} if is_sqlite else {"connect_timeout": max(1, round(connect_timeout_s))}
            self._engine: Engine = create_engine(parsed, pool_pre_ping=not is_sqlite, connect_args=connect_args)
        except (SQLAlchemyError, ImportError) as exc:
            raise self._error("create the engine", exc) from exc
        if is_sqlite:
            event.listen(self._engine, "connect", _configure_sqlite)
        self._transaction: ContextVar[Connection | None] = ContextVar(f"journal-transaction-{id(self)}", default=None)

    def __repr__(self) -> str:
        return f"Journal({self.url!r})"

    def close(self) -> None:
        """Release pooled connections (the Journal stays usable and reconnects on demand)."""
        self._engine.dispose()

    @property
    def database_url(self) -> URL:
        """The database URL with its driver (``str()`` of a URL masks the password)."""
        return self._url

    def create_schema(self) -> None:
        """Migrate the database to the head of the journal's migrations (one cheap query if it is there)."""
        with self._guard("create the schema"):
            upgrade_to_head(self._engine)

    def replace_orders(self, book: str, sessions: Iterable[DateLike], rows: pd.DataFrame, run_id: str) -> int:
        """Replace the orders decided in ``sessions``; ``created_at`` defaults to now and naive times are UTC."""
        return self.replace_rows("orders", book, sessions, rows, run_id)

    def replace_fills(self, book: str, sessions: Iterable[DateLike], rows: pd.DataFrame, run_id: str) -> int:
        """Replace the fills executed in ``sessions``."""
        return self.replace_rows("fills", book, sessions, rows, run_id)

    def replace_positions(self, book: str, sessions: Iterable[DateLike], rows: pd.DataFrame, run_id: str) -> int:
        """Replace the end-of-session positions of ``sessions``."""
        return self.replace_rows("positions", book, sessions, rows, run_id)

    def replace_equity(self, book: str, sessions: Iterable[DateLike], rows: pd.DataFrame, run_id: str) -> int:
        """Replace the equity rows (one per session) of ``sessions``."""
        return self.replace_rows("equity", book, sessions, rows, run_id)

    def record_risk_events(
        self, book: str, sessions: Iterable[DateLike], source: str, rows: pd.DataFrame, run_id: str
    ) -> int:
        """Replace the risk events that step ``source`` raised in ``sessions``; other steps' events are kept."""
        return self.replace_rows("risk_events", book, sessions, rows, run_id, source=source)

    def save_book_states(self, book: str, states: Mapping[DateLike, Mapping[str, Any]], run_id: str) -> int:
        """Replace the book state saved at the end of each session in ``states`` (stored as JSON)."""
        book, run_id = require_label("book", book), require_label("run_id", run_id)
        dates: list[date] = []
        texts: list[str] = []
        for key, state in states.items():
            session = to_session_date(key)
            if not isinstance(state, Mapping):
                raise ValueError(f"book_states: the state of {session} must be a mapping, got {type(state).__name__}")
            try:
                texts.append(json.dumps(state, sort_keys=True, allow_nan=False))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"book_states: the state of {session} is not JSON-serializable: {exc}") from exc
            dates.append(session)
        if len(set(dates)) != len(dates):
            raise ValueError(f"book_states: several states for session(s) {show(duplicates(dates))}")
        columns: dict[str, list[Any]] = {
            "book": [book] * len(dates),
            "session": dates,
            "run_id": [run_id] * len(dates),
            "state": texts,
        }
        return self._write(TABLES["book_states"], book, set(dates), columns, None)

    def replace_strategy_choices(self, book: str, sessions: Iterable[DateLike], rows: pd.DataFrame, run_id: str) -> int:
        """Replace the strategy chosen per (session, symbol), with who chose it and how."""
        return self.replace_rows("strategy_choices", book, sessions, rows, run_id)

    def strategy_choice_counts(
        self,
        book: str | ColumnElement[bool],
        start: DateLike | None = None,
        end: DateLike | None = None,
        outcome: str | None = None,
    ) -> pd.DataFrame:
        """Choices per session, strategy, provider and outcome of ``book`` (or the rows a clause selects), counted
        in the database: a backtest has many."""
        table = TABLES["strategy_choices"]
        keys = [table.c.session, table.c.strategy, table.c.provider, table.c.outcome]
        where = table.c.book == book if isinstance(book, str) else book
        stmt = select(*keys, func.count().label("rows")).where(where).group_by(*keys).order_by(*keys)
        if outcome is not None:
            stmt = stmt.where(table.c.outcome == outcome)
        if start is not None:
            stmt = stmt.where(table.c.session >= to_session_date(start))
        if end is not None:
            stmt = stmt.where(table.c.session <= to_session_date(end))
        with self.reading("count strategy choices") as conn:
            rows = fetch_rows(conn, stmt)
        frame = pd.DataFrame(rows, columns=["session", "strategy", "provider", "outcome", "rows"])
        frame["session"] = to_datetimes(frame["session"], utc=False)
        return frame

    def replace_audit_reports(self, book: str, sessions: Iterable[DateLike], rows: pd.DataFrame, run_id: str) -> int:
        """Replace the audit narrative (one per session) of ``sessions``."""
        return self.replace_rows("audit_reports", book, sessions, rows, run_id)

    def load_book_state(self, book: str, before: DateLike) -> tuple[date, dict[str, Any]] | None:
        """The latest state of ``book`` saved strictly before ``before``, or None if there is none."""
        table = TABLES["book_states"]
        stmt = (
            select(table.c.session, table.c.state)
            .where(table.c.book == book, table.c.session < to_session_date(before))
            .order_by(table.c.session.desc())
            .limit(1)
        )
        with self.reading(f"load the book state of {book!r}") as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return row.session, json.loads(row.state)

    def read(
        self, table: str, book: str | None = None, start: DateLike | None = None, end: DateLike | None = None
    ) -> pd.DataFrame:
        """Rows of ``table`` (optionally one book, sessions from ``start`` to ``end`` inclusive) in write order.

        ``session`` is ``datetime64[ns]`` and ``created_at`` a UTC timestamp; the surrogate ``id`` is not returned.
        """
        if table not in TABLES:
            raise ValueError(f"unknown journal table {table!r}; expected one of {sorted(TABLES)}")
        sql_table = TABLES[table]
        return self.select(table, None if book is None else sql_table.c.book == book, start, end)

    def select(
        self, table: str, where: ColumnElement[bool] | None, start: DateLike | None = None, end: DateLike | None = None
    ) -> pd.DataFrame:
        """Rows of ``table`` matching ``where`` (sessions from ``start`` to ``end``), as ``read`` returns them."""
        sql_table = TABLES[table]
        columns = [column for column in sql_table.columns if column.name != "id"]
        stmt = select(*columns).order_by(sql_table.c.session, sql_table.c.id)
        if where is not None:
            stmt = stmt.where(where)
        if start is not None:
            stmt = stmt.where(sql_table.c.session >= to_session_date(start))
        if end is not None:
            stmt = stmt.where(sql_table.c.session <= to_session_date(end))
        with self.reading(f"read {table}") as conn:
            rows = fetch_rows(conn, stmt)
        frame = pd.DataFrame(rows, columns=[column.name for column in columns])
        for column in columns:
            if isinstance(column.type, Date | DateTime):
                frame[column.name] = to_datetimes(frame[column.name], utc=isinstance(column.type, DateTime))
            elif isinstance(column.type, Double):
                frame[column.name] = frame[column.name].astype("float64")
        return frame

    def update_order_status(self, book: str, statuses: Mapping[str, str]) -> int:
        """Set the status of orders journaled earlier (e.g. filled at the open of a later run's first session).

        Every id must already be an order of ``book``: an unknown id is refused and nothing is written.
        """
        allowed = {s.value for s in OrderStatus}
        bad = sorted({s for s in statuses.values() if s not in allowed})
        if bad:
            raise ValueError(f"orders: unknown status {bad}; allowed: {sorted(allowed)}")
        if not statuses:
            return 0
        table = TABLES["orders"]
        stmt = (
            update(table)
            .where(table.c.book == bindparam("b_book"), table.c.client_order_id == bindparam("b_id"))
            .values(status=bindparam("b_status"))
        )
        params = [{"b_book": book, "b_id": i, "b_status": s} for i, s in statuses.items()]
        with self.writing(f"update order status of book {book!r}") as conn:
            updated = conn.execute(stmt, params).rowcount
            if updated != len(params):
                raise ValueError(
                    f"orders: {len(params) - updated} of {len(params)} order ids are not orders of book {book!r}"
                )
        return updated

    def record_alert(
        self,
        kind: str,
        summary: str,
        delivery: str,
        run_id: str | None = None,
        job: str | None = None,
        step: str | None = None,
    ) -> None:
        """Append an alert; the caller has already removed anything secret from ``summary``."""
        row = {
            "kind": require_label("kind", kind),
            "run_id": run_id,
            "job": job,
            "step": step,
            "summary": summary,
            "delivery": delivery,
            "created_at": datetime.now(UTC),
        }
        with self.writing("record an alert") as conn:
            conn.execute(insert(AlertRow.__table__), [row])

    def read_alerts(self) -> pd.DataFrame:
        """Every alert, oldest first."""
        table = AlertRow.__table__
        columns = [c for c in table.columns if c.name != "id"]
        with self.reading("read alerts") as conn:
            rows = conn.execute(select(*columns).order_by(table.c.id)).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=[c.name for c in columns])
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
        return frame

    def record_backtest(
        self,
        run_id: str,
        book: str,
        name: str,
        parameters: Mapping[str, Any],
        code_version: str,
        start: DateLike,
        end: DateLike,
        metrics: Mapping[str, Any],
        point: int = 0,
    ) -> None:
        """Keep a backtest's results (a sweep's: one row per ``point`` of its run); a re-executed report of the same
        run and point replaces its row, never duplicates it."""
        row = {
            "run_id": require_label("run_id", run_id), "point": int(point), "book": require_label("book", book), "name": require_label("name", name),
            "parameters": json.dumps(dict(parameters), sort_keys=True, allow_nan=False),
            "code_version": require_label("code_version", code_version),
            "start": to_session_date(start), "end": to_session_date(end),
            "metrics": json.dumps(dict(metrics), sort_keys=True, allow_nan=False),
            "created_at": datetime.now(UTC),
        }  # fmt: skip
        table = BacktestRow.__table__
        with self.writing("record a backtest") as conn:
            conn.execute(delete(table).where(table.c.run_id == run_id, table.c.point == int(point)))
            conn.execute(insert(table), [row])

    def read_backtests(self, book: str | None = None) -> pd.DataFrame:
        """Kept backtests, oldest first; ``parameters`` and ``metrics`` as dicts."""
        table = BacktestRow.__table__
        columns = [c for c in table.columns if c.name != "id"]
        stmt = select(*columns).order_by(table.c.created_at, table.c.id)
        if book is not None:
            stmt = stmt.where(table.c.book == book)
        with self.reading("read backtests") as conn:
            rows = conn.execute(stmt).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=[c.name for c in columns])
        for column in ("parameters", "metrics"):
            frame[column] = frame[column].map(json.loads)
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
        return frame

    def delete_book(self, book: str) -> int:
        """Delete every row of ``book`` in every table; returns how many rows were deleted."""
        deleted = 0
        with self.writing(f"delete book {book!r}") as conn:
            for table in TABLES.values():
                deleted += conn.execute(delete(table).where(table.c.book == book)).rowcount
        return deleted

    def books(self) -> list[str]:
        """The books that have rows in any table, sorted."""
        stmt = union(*(select(table.c.book) for table in TABLES.values()))
        with self.reading("list the books") as conn:
            return sorted(conn.execute(stmt).scalars())

    def replace_rows(
        self,
        name: str,
        book: str,
        sessions: Iterable[DateLike],
        rows: pd.DataFrame,
        run_id: str,
        source: str | None = None,
    ) -> int:
        """Replace the rows of ``name`` for (``book``, ``sessions``[, ``source``]) with ``rows``, in one transaction."""
        context = {"book": require_label("book", book), "run_id": require_label("run_id", run_id)}
        if source is not None:
            context["source"] = require_label("source", source)
        if isinstance(sessions, str | bytes) or not isinstance(sessions, Iterable):
            raise ValueError(f"{name}: sessions must be a list of session dates, got {type(sessions).__name__}")
        dates = {to_session_date(session) for session in sessions}
        columns = validated_columns(TABLES[name], RULES[name], rows, dates, context)
        return self._write(TABLES[name], book, dates, columns, source)

    def add_rows(self, name: str, book: str, rows: pd.DataFrame, run_id: str) -> int:
        """Add ``rows`` to ``name`` of ``book`` without replacing any (orders placed outside a cycle, e.g. by a halt);
        a row that repeats a unique key of the book is refused and nothing is written."""
        context = {"book": require_label("book", book), "run_id": require_label("run_id", run_id)}
        sessions = {to_session_date(day) for day in rows["session"]} if "session" in rows.columns else set()
        columns = validated_columns(TABLES[name], RULES[name], rows, sessions, context)
        with self.writing(f"add {name} to book {book!r}") as conn:
            return insert_columns(conn, TABLES[name], columns)

    def _write(
        self, table: Table, book: str, sessions: set[date], columns: Mapping[str, Sequence[Any]], source: str | None
    ) -> int:
        """Delete the rows of (book, sessions[, source]) and insert ``columns``, in one transaction."""
        operation = f"replace {table.name} of book {book!r}"
        with self.writing(operation) as conn:
            ordered = sorted(sessions)
            for start in range(0, len(ordered), _DELETE_CHUNK):
                stmt = delete(table).where(
                    table.c.book == book, table.c.session.in_(ordered[start : start + _DELETE_CHUNK])
                )
                if source is not None:
                    stmt = stmt.where(table.c.source == source)
                conn.execute(stmt)
            count = insert_columns(conn, table, columns)
        return count

    @contextmanager
    def reading(self, operation: str) -> Iterator[Connection]:
        """A connection for reads; database failures become ``JournalError``."""
        with self._guard(operation), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def writing(self, operation: str) -> Iterator[Connection]:
        """One transaction, committed when the block ends and rolled back if it raises; inside ``transaction()``,
        the enclosing transaction."""
        current = self._transaction.get()
        if current is not None:
            with self._guard(operation):
                yield current
            return
        with self._guard(operation), self._engine.begin() as conn:
            yield conn

    @contextmanager
    def transaction(self, operation: str) -> Iterator[None]:
        """Every write inside the block is one transaction: all of it is committed, or none of it."""
        with self._guard(operation), self._engine.begin() as conn:
            token = self._transaction.set(conn)
            try:
                yield
            finally:
                self._transaction.reset(token)

    @cached_property
    def llm_calls(self) -> LLMCallLedger:
        """The LLM call ledger kept in this journal (cache, budget, circuit breaker history)."""
        return LLMCallLedger(self)

    @contextmanager
    def _guard(self, operation: str) -> Iterator[None]:
        """Turn database failures into JournalError, and unique-key conflicts into ValueError (bad input)."""
        try:
            yield
        except IntegrityError as exc:
            raise ValueError(f"{operation}: the rows conflict with rows already in the journal: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise self._error(operation, exc) from exc

    def _error(self, operation: str, exc: BaseException) -> JournalError:
        reason = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
        reason = reason.strip().splitlines()[0] if reason.strip() else type(exc).__name__
        if "timeout expired" in reason:
            reason += " (the database did not answer in time: is it up and reachable?)"
        if self._url.password:
            reason = reason.replace(str(self._url.password), "***")
        return JournalError(f"journal {self.url}: cannot {operation}: {type(exc).__name__}: {reason}")


def _with_driver(url: URL) -> URL:
    """``postgresql://`` (or ``postgres://``) means psycopg 3 here; SQLAlchemy 2.0 would pick psycopg2."""
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


# Bytes per page of a new SQLite journal (an existing one keeps its own).
JOURNAL_PAGE_SIZE = 32768


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers work while a step writes; the busy timeout makes concurrent writers wait, not fail.
    A 32 MB page cache and in-memory temporary tables: a backtest replaces ~600k strategy choices in one
    transaction, and with SQLite's 2 MB default it spilled and re-read pages ~2 million times (~5 s). A new
    journal gets 32 KB pages (set before WAL, which fixes them): a backtest's risk events and fills take a quarter of
    the page writes of 4 KB pages."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA page_size = {JOURNAL_PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA temp_store = MEMORY")
        cursor.execute("PRAGMA cache_size = -32768")
    finally:
        cursor.close()
