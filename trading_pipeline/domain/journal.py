"""The trading journal: the system of record of a book (orders, fills, positions, equity, risk events, book state).

Every row carries its ``book``, its ``session`` (the trading date) and the ``run_id`` that wrote it. Steps are
re-executed (retries, backfills), so every write replaces that step's rows for the given sessions in one
transaction — delete (book, sessions[, source]) then bulk insert — and never duplicates them. Frames are
validated in full before the transaction opens: a bad frame raises ``ValueError`` and leaves the journal as it was.

The SQL is portable SQLAlchemy 2.0, so the same code runs on SQLite files and on PostgreSQL (``postgresql+psycopg://``;
a bare ``postgresql://`` URL gets psycopg 3 too). Only the paths a backtest makes large go below SQLAlchemy's per-row
layer: bulk inserts use COPY on PostgreSQL and multi-row INSERTs on SQLite, and reads convert the driver's rows
column by column. The schema is versioned by the Alembic migrations of ``trading_pipeline.migrations``;
``create_schema`` brings a database to their head.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sqlalchemy import (
    URL,
    Connection,
    Date,
    DateTime,
    Double,
    Engine,
    Index,
    MetaData,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trading_pipeline.domain.llm.calls import CHOICE_OUTCOMES, REQUEST_OUTCOMES, Outcome, Step
from trading_pipeline.migrations import upgrade_to_head

type DateLike = date | datetime | pd.Timestamp | np.datetime64 | str

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Bound parameters per DELETE ... IN (...): far below SQLite's and PostgreSQL's limits, even for long backfills.
_DELETE_CHUNK = 500
# Rows per driver executemany (or per COPY batch), all in the caller's transaction.
_INSERT_CHUNK = 50_000
# Bound parameters per multi-row INSERT: SQLite's historical limit, so any SQLite build accepts the statement.
_MAX_BINDS = 999
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    SUBMITTED = "submitted"
    FILLED = "filled"
    PARTIALLY_FILLED = "partially_filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    PENDING = "pending"


class RiskAction(StrEnum):
    REJECTED = "rejected"
    CLIPPED = "clipped"
    CANCELLED = "cancelled"
    CHECK_FAILED = "check_failed"
    QUARANTINED = "quarantined"
    INFO = "info"


class Base(DeclarativeBase):
    """Declarative base of the journal; constraint names are fixed so that migrations can refer to them."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar = {str: String(), float: Double(), datetime: DateTime(timezone=True)}


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index(None, "book", "session"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(unique=True)
    book: Mapped[str]
    session: Mapped[date] = mapped_column(Date, comment="the session the order was decided")
    run_id: Mapped[str]
    symbol: Mapped[str]
    side: Mapped[str]
    qty: Mapped[float]
    order_type: Mapped[str]
    limit_price: Mapped[float | None]
    stop_price: Mapped[float | None]
    ref_price: Mapped[float]
    strategy: Mapped[str]
    confidence: Mapped[float]
    status: Mapped[str]
    reason: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(comment="UTC")


class Fill(Base):
    __tablename__ = "fills"
    __table_args__ = (Index(None, "book", "session"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    fill_id: Mapped[str] = mapped_column(unique=True)
    client_order_id: Mapped[str]
    book: Mapped[str]
    session: Mapped[date] = mapped_column(Date, comment="the session of execution")
    run_id: Mapped[str]
    symbol: Mapped[str]
    side: Mapped[str]
    qty: Mapped[float]
    price: Mapped[float]
    commission: Mapped[float]
    slippage: Mapped[float]


class Position(Base):
    # The unique constraint's index leads with (book, session), so it serves those lookups too.
    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("book", "session", "symbol"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str]
    session: Mapped[date] = mapped_column(Date)
    run_id: Mapped[str]
    symbol: Mapped[str]
    qty: Mapped[float]
    avg_price: Mapped[float]
    close: Mapped[float]
    market_value: Mapped[float]


class Equity(Base):
    __tablename__ = "equity"
    __table_args__ = (UniqueConstraint("book", "session"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str]
    session: Mapped[date] = mapped_column(Date)
    run_id: Mapped[str]
    cash: Mapped[float]
    positions_value: Mapped[float]
    equity: Mapped[float]
    peak_equity: Mapped[float]
    drawdown: Mapped[float]


class RiskEvent(Base):
    __tablename__ = "risk_events"
    __table_args__ = (Index(None, "book", "session"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str]
    session: Mapped[date] = mapped_column(Date)
    run_id: Mapped[str]
    symbol: Mapped[str | None]
    rule: Mapped[str]
    action: Mapped[str]
    value: Mapped[float | None]
    limit_value: Mapped[float | None]
    message: Mapped[str]
    source: Mapped[str] = mapped_column(comment="the step that wrote the event, e.g. 'sizing'")


class BookState(Base):
    __tablename__ = "book_states"
    __table_args__ = (UniqueConstraint("book", "session"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str]
    session: Mapped[date] = mapped_column(Date)
    run_id: Mapped[str]
    state: Mapped[str] = mapped_column(Text, comment="JSON: the book the next session starts from")


class LLMCall(Base):
    """One LLM request or its stand-in (cache hit, budget, fallback): an append-only log, never replaced."""

    __tablename__ = "llm_calls"
    __table_args__ = (
        Index(None, "book", "session"),
        Index(None, "prompt_hash"),
        Index(None, "run_id", "step"),
        Index(None, "provider"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str]
    run_id: Mapped[str]
    session: Mapped[date | None] = mapped_column(Date)
    step: Mapped[str]
    provider: Mapped[str]
    model: Mapped[str]
    prompt_hash: Mapped[str]
    input_tokens: Mapped[float]
    output_tokens: Mapped[float]
    latency_ms: Mapped[float]
    outcome: Mapped[str]
    decision: Mapped[str | None] = mapped_column(Text, comment="JSON of the validated or fallback decision")
    error: Mapped[str | None] = mapped_column(
        Text, comment="why the answer was refused or the call failed (no secrets)"
    )
    created_at: Mapped[datetime] = mapped_column(comment="UTC")


class AuditReport(Base):
    __tablename__ = "audit_reports"
    __table_args__ = (UniqueConstraint("book", "session"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str]
    session: Mapped[date] = mapped_column(Date)
    run_id: Mapped[str]
    provider: Mapped[str]
    model: Mapped[str]
    markdown: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(comment="UTC")


class StrategyChoice(Base):
    __tablename__ = "strategy_choices"
    __table_args__ = (Index(None, "book", "session"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str]
    session: Mapped[date] = mapped_column(Date)
    symbol: Mapped[str]
    strategy: Mapped[str]
    provider: Mapped[str]
    outcome: Mapped[str]
    reason: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str]


class Alert(Base):
    """An operational alert (e.g. a failed run): append-only, not per book, so it is not in ``TABLES``."""

    __tablename__ = "alerts"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str]
    run_id: Mapped[str | None]
    job: Mapped[str | None]
    step: Mapped[str | None]
    summary: Mapped[str] = mapped_column(Text, comment="what failed and why (never a secret)")
    delivery: Mapped[str] = mapped_column(comment="journal only, or the webhook outcome (never its URL)")
    created_at: Mapped[datetime] = mapped_column(comment="UTC")


class Backtest(Base):
    """A backtest's identity and headline results, kept across runs: not per-book data that a new backtest of
    the book replaces, so it is not in ``TABLES`` (``delete_book`` keeps it)."""

    __tablename__ = "backtests"
    __table_args__ = (Index(None, "book"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(unique=True)
    book: Mapped[str]
    name: Mapped[str]
    parameters: Mapped[str] = mapped_column(Text, comment="JSON: what was varied (strategy pin, limits, ...)")
    code_version: Mapped[str] = mapped_column(comment="package version, +git commit when known")
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    metrics: Mapped[str] = mapped_column(Text, comment="JSON: performance_report's metrics")
    created_at: Mapped[datetime] = mapped_column(comment="UTC")


TABLES: dict[str, Table] = {
    model.__tablename__: model.__table__  # type: ignore[misc]
    for model in (Order, Fill, Position, Equity, RiskEvent, BookState, LLMCall, AuditReport, StrategyChoice)
}


@dataclass(frozen=True)
class _Rules:
    """Checks beyond types and nullability that a frame must pass before it is written."""

    choices: Mapping[str, frozenset[str]] = field(default_factory=dict)
    positive: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    may_be_empty: tuple[str, ...] = ()


_SIDES = frozenset(Side)
_RULES: dict[str, _Rules] = {
    "orders": _Rules(
        choices={"side": _SIDES, "status": frozenset(OrderStatus)},
        positive=("qty",),
        unique=(("client_order_id",),),
        may_be_empty=("reason",),
    ),
    "fills": _Rules(choices={"side": _SIDES}, positive=("qty",), unique=(("fill_id",),)),
    "positions": _Rules(unique=(("session", "symbol"),)),
    "equity": _Rules(unique=(("session",),)),
    "risk_events": _Rules(choices={"action": frozenset(RiskAction)}, may_be_empty=("message",)),
    "llm_calls": _Rules(choices={"outcome": frozenset(Outcome), "step": frozenset(Step)}),
    "audit_reports": _Rules(unique=(("session",),)),
    "strategy_choices": _Rules(choices={"outcome": CHOICE_OUTCOMES}, unique=(("session", "symbol"),)),
}


class JournalError(RuntimeError):
    """The journal database cannot be reached or written (the URL in the message never shows a password)."""


def masked_url(url: str | URL) -> str:
    """The URL as it may be shown in logs and errors: password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, TypeError, ValueError):
        return "<unparseable database URL>"


def to_session_date(value: DateLike) -> date:
    """A session date from a date, datetime, pandas Timestamp, numpy datetime64 or 'YYYY-MM-DD' string."""
    if value is pd.NaT:
        raise ValueError("a session date is missing (NaT)")
    if isinstance(value, datetime):  # also pd.Timestamp; checked before date, its base class
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError("a session date is missing (NaT)")
        return pd.Timestamp(value).date()
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"not a valid session date: {value!r}") from exc
    raise ValueError(
        f"not a session date: {value!r} (expected a date, datetime, pandas Timestamp or 'YYYY-MM-DD' string)"
    )


class Journal:
    """The journal of one database; the engine is created once and shared by all operations."""

    def __init__(self, url: str) -> None:
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
            self._engine: Engine = create_engine(parsed, pool_pre_ping=not is_sqlite)
        except (SQLAlchemyError, ImportError) as exc:
            raise self._error("create the engine", exc) from exc
        if is_sqlite:
            event.listen(self._engine, "connect", _configure_sqlite)

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
        return self._replace("orders", book, sessions, rows, run_id)

    def replace_fills(self, book: str, sessions: Iterable[DateLike], rows: pd.DataFrame, run_id: str) -> int:
        """Replace the fills executed in ``sessions``."""
        return self._replace("fills", book, sessions, rows, run_id)

    def replace_positions(self, book: str, sessions: Iterable[DateLike], rows: pd.DataFrame, run_id: str) -> int:
        """Replace the end-of-session positions of ``sessions``."""
        return self._replace("positions", book, sessions, rows, run_id)

    def replace_equity(self, book: str, sessions: Iterable[DateLike], rows: pd.DataFrame, run_id: str) -> int:
        """Replace the equity rows (one per session) of ``sessions``."""
        return self._replace("equity", book, sessions, rows, run_id)

    def record_risk_events(
        self, book: str, sessions: Iterable[DateLike], source: str, rows: pd.DataFrame, run_id: str
    ) -> int:
        """Replace the risk events that step ``source`` raised in ``sessions``; other steps' events are kept."""
        return self._replace("risk_events", book, sessions, rows, run_id, source=source)

    def save_book_states(self, book: str, states: Mapping[DateLike, Mapping[str, Any]], run_id: str) -> int:
        """Replace the book state saved at the end of each session in ``states`` (stored as JSON)."""
        book, run_id = _label("book", book), _label("run_id", run_id)
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
            raise ValueError(f"book_states: several states for session(s) {_show(_duplicates(dates))}")
        columns: dict[str, list[Any]] = {
            "book": [book] * len(dates),
            "session": dates,
            "run_id": [run_id] * len(dates),
            "state": texts,
        }
        return self._write(TABLES["book_states"], book, set(dates), columns, None)

    def record_llm_calls(self, book: str, run_id: str, rows: pd.DataFrame) -> int:
        """Append LLM calls (every call happened, so a re-run adds rows rather than replacing them)."""
        context = {"book": _label("book", book), "run_id": _label("run_id", run_id)}
        table = TABLES["llm_calls"]
        sessions = {to_session_date(s) for s in rows["session"].dropna()} if "session" in rows.columns else set()
        columns = _columns(table, _RULES["llm_calls"], rows, sessions, context)
        with self._guard(f"record llm_calls of book {book!r}"), self._engine.begin() as conn:
            return _bulk_insert(conn, table, columns)

    def cached_llm_decision(self, step: str, prompt_hash: str) -> str | None:
        """The decision of the latest valid answer to this exact prompt (any book, any run), or None."""
        table = TABLES["llm_calls"]
        stmt = (
            select(table.c.decision)
            .where(table.c.prompt_hash == prompt_hash, table.c.step == step, table.c.outcome == str(Outcome.OK))
            .order_by(table.c.id.desc())
            .limit(1)
        )
        with self._guard("read the LLM cache"), self._engine.connect() as conn:
            return conn.execute(stmt).scalar()

    def llm_usage(self, run_id: str, step: str) -> tuple[int, int]:
        """Requests and tokens a run has spent on a step so far (cache hits and fallbacks cost nothing)."""
        table = TABLES["llm_calls"]
        stmt = select(func.count(), func.coalesce(func.sum(table.c.input_tokens + table.c.output_tokens), 0)).where(
            table.c.run_id == run_id, table.c.step == step, table.c.outcome.in_([str(o) for o in REQUEST_OUTCOMES])
        )
        with self._guard("read the LLM usage"), self._engine.connect() as conn:
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
        with self._guard("read the last LLM rejection"), self._engine.connect() as conn:
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
        with self._guard("read the LLM outcomes"), self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [(outcome, _as_utc(at)) for outcome, at in reversed(rows)]

    def replace_strategy_choices(self, book: str, sessions: Iterable[DateLike], rows: pd.DataFrame, run_id: str) -> int:
        """Replace the strategy chosen per (session, symbol), with who chose it and how."""
        return self._replace("strategy_choices", book, sessions, rows, run_id)

    def strategy_choice_counts(
        self, book: str, start: DateLike | None = None, end: DateLike | None = None, outcome: str | None = None
    ) -> pd.DataFrame:
        """Choices per session, strategy, provider and outcome (counted in the database: a backtest has many)."""
        table = TABLES["strategy_choices"]
        keys = [table.c.session, table.c.strategy, table.c.provider, table.c.outcome]
        stmt = select(*keys, func.count().label("rows")).where(table.c.book == book).group_by(*keys).order_by(*keys)
        if outcome is not None:
            stmt = stmt.where(table.c.outcome == outcome)
        if start is not None:
            stmt = stmt.where(table.c.session >= to_session_date(start))
        if end is not None:
            stmt = stmt.where(table.c.session <= to_session_date(end))
        with self._guard("count strategy choices"), self._engine.connect() as conn:
            rows = _fetch(conn, stmt)
        frame = pd.DataFrame(rows, columns=["session", "strategy", "provider", "outcome", "rows"])
        frame["session"] = _to_datetimes(frame["session"], utc=False)
        return frame

    def replace_audit_reports(self, book: str, sessions: Iterable[DateLike], rows: pd.DataFrame, run_id: str) -> int:
        """Replace the audit narrative (one per session) of ``sessions``."""
        return self._replace("audit_reports", book, sessions, rows, run_id)

    def load_book_state(self, book: str, before: DateLike) -> tuple[date, dict[str, Any]] | None:
        """The latest state of ``book`` saved strictly before ``before``, or None if there is none."""
        table = TABLES["book_states"]
        stmt = (
            select(table.c.session, table.c.state)
            .where(table.c.book == book, table.c.session < to_session_date(before))
            .order_by(table.c.session.desc())
            .limit(1)
        )
        with self._guard(f"load the book state of {book!r}"), self._engine.connect() as conn:
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
        columns = [column for column in sql_table.columns if column.name != "id"]
        stmt = select(*columns).order_by(sql_table.c.session, sql_table.c.id)
        if book is not None:
            stmt = stmt.where(sql_table.c.book == book)
        if start is not None:
            stmt = stmt.where(sql_table.c.session >= to_session_date(start))
        if end is not None:
            stmt = stmt.where(sql_table.c.session <= to_session_date(end))
        with self._guard(f"read {table}"), self._engine.connect() as conn:
            rows = _fetch(conn, stmt)
        frame = pd.DataFrame(rows, columns=[column.name for column in columns])
        for column in columns:
            if isinstance(column.type, Date | DateTime):
                frame[column.name] = _to_datetimes(frame[column.name], utc=isinstance(column.type, DateTime))
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
        with self._guard(f"update order status of book {book!r}"), self._engine.begin() as conn:
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
            "kind": _label("kind", kind),
            "run_id": run_id,
            "job": job,
            "step": step,
            "summary": summary,
            "delivery": delivery,
            "created_at": datetime.now(UTC),
        }
        with self._guard("record an alert"), self._engine.begin() as conn:
            conn.execute(insert(Alert.__table__), [row])

    def read_alerts(self) -> pd.DataFrame:
        """Every alert, oldest first."""
        table = Alert.__table__
        columns = [c for c in table.columns if c.name != "id"]
        with self._guard("read alerts"), self._engine.connect() as conn:
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
    ) -> None:
        """Keep a backtest's results; a re-executed report of the same run replaces its row, never duplicates it."""
        row = {
            "run_id": _label("run_id", run_id), "book": _label("book", book), "name": _label("name", name),
            "parameters": json.dumps(dict(parameters), sort_keys=True, allow_nan=False),
            "code_version": _label("code_version", code_version),
            "start": to_session_date(start), "end": to_session_date(end),
            "metrics": json.dumps(dict(metrics), sort_keys=True, allow_nan=False),
            "created_at": datetime.now(UTC),
        }  # fmt: skip
        table = Backtest.__table__
        with self._guard("record a backtest"), self._engine.begin() as conn:
            conn.execute(delete(table).where(table.c.run_id == run_id))
            conn.execute(insert(table), [row])

    def read_backtests(self, book: str | None = None) -> pd.DataFrame:
        """Kept backtests, oldest first; ``parameters`` and ``metrics`` as dicts."""
        table = Backtest.__table__
        columns = [c for c in table.columns if c.name != "id"]
        stmt = select(*columns).order_by(table.c.created_at, table.c.id)
        if book is not None:
            stmt = stmt.where(table.c.book == book)
        with self._guard("read backtests"), self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=[c.name for c in columns])
        for column in ("parameters", "metrics"):
            frame[column] = frame[column].map(json.loads)
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
        return frame

    def delete_book(self, book: str) -> int:
        """Delete every row of ``book`` in every table; returns how many rows were deleted."""
        deleted = 0
        with self._guard(f"delete book {book!r}"), self._engine.begin() as conn:
            for table in TABLES.values():
                deleted += conn.execute(delete(table).where(table.c.book == book)).rowcount
        return deleted

    def books(self) -> list[str]:
        """The books that have rows in any table, sorted."""
        stmt = union(*(select(table.c.book) for table in TABLES.values()))
        with self._guard("list the books"), self._engine.connect() as conn:
            return sorted(conn.execute(stmt).scalars())

    def _replace(
        self,
        name: str,
        book: str,
        sessions: Iterable[DateLike],
        rows: pd.DataFrame,
        run_id: str,
        source: str | None = None,
    ) -> int:
        context = {"book": _label("book", book), "run_id": _label("run_id", run_id)}
        if source is not None:
            context["source"] = _label("source", source)
        if isinstance(sessions, str | bytes) or not isinstance(sessions, Iterable):
            raise ValueError(f"{name}: sessions must be a list of session dates, got {type(sessions).__name__}")
        dates = {to_session_date(session) for session in sessions}
        columns = _columns(TABLES[name], _RULES[name], rows, dates, context)
        return self._write(TABLES[name], book, dates, columns, source)

    def _write(
        self, table: Table, book: str, sessions: set[date], columns: Mapping[str, Sequence[Any]], source: str | None
    ) -> int:
        """Delete the rows of (book, sessions[, source]) and insert ``columns``, in one transaction."""
        operation = f"replace {table.name} of book {book!r}"
        with self._guard(operation), self._engine.begin() as conn:
            ordered = sorted(sessions)
            for start in range(0, len(ordered), _DELETE_CHUNK):
                stmt = delete(table).where(
                    table.c.book == book, table.c.session.in_(ordered[start : start + _DELETE_CHUNK])
                )
                if source is not None:
                    stmt = stmt.where(table.c.source == source)
                conn.execute(stmt)
            count = _bulk_insert(conn, table, columns)
        return count

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
        if self._url.password:
            reason = reason.replace(str(self._url.password), "***")
        return JournalError(f"journal {self.url}: cannot {operation}: {type(exc).__name__}: {reason}")


def _bulk_insert(conn: Connection, table: Table, columns: Mapping[str, Sequence[Any]]) -> int:
    """Insert column-wise values: COPY on PostgreSQL, multi-row ``INSERT ... VALUES`` on SQLite.

    SQLAlchemy's per-row parameter processing costs more than the write itself at a backtest's 600k+ rows, so
    the columns' bind processors (e.g. dates to text on SQLite) are applied here, once per distinct value.
    """
    count = len(next(iter(columns.values()), []))
    if count == 0:
        return 0
    dialect = conn.dialect
    names = [column.name for column in table.columns if column.name in columns]  # the order SQL renders them
    matrix = np.empty((count, len(names)), dtype=object)
    for position, name in enumerate(names):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        matrix[:, position] = _map_distinct(columns[name], processor) if processor else columns[name]
    if dialect.name == "postgresql":
        _copy(conn, table, names, matrix)
    else:
        _insert_values(conn, table, names, matrix)
    return count


def _copy(conn: Connection, table: Table, names: list[str], matrix: np.ndarray) -> None:
    """Stream the rows with ``COPY ... FROM STDIN`` (psycopg 3), five times faster than its executemany."""
    quote = conn.dialect.identifier_preparer
    sql = f"COPY {quote.format_table(table)} ({', '.join(quote.quote(name) for name in names)}) FROM STDIN"
    with _driver_errors(conn, sql), conn.connection.cursor() as cursor, cursor.copy(sql) as copy:
        for start in range(0, len(matrix), _INSERT_CHUNK):  # bounded lists of Python rows
            for row in matrix[start : start + _INSERT_CHUNK].tolist():
                copy.write_row(row)


def _insert_values(conn: Connection, table: Table, names: list[str], matrix: np.ndarray) -> None:
    """Insert with one ``executemany`` of a multi-row INSERT: a hundred rows per statement execution take a
    third less time on SQLite than one row each."""
    per_statement = max(1, _MAX_BINDS // len(names))
    whole = len(matrix) - len(matrix) % per_statement
    step = max(1, _INSERT_CHUNK // per_statement) * per_statement
    for start in range(0, whole, step):
        sql, parameters = _values_statement(conn, table, names, matrix[start : min(start + step, whole)], per_statement)
        conn.exec_driver_sql(sql, parameters)
    if whole < len(matrix):
        sql, parameters = _values_statement(conn, table, names, matrix[whole:], len(matrix) - whole)
        conn.exec_driver_sql(sql, parameters)


def _values_statement(
    conn: Connection, table: Table, names: list[str], matrix: np.ndarray, rows: int
) -> tuple[str, list[Any]]:
    """The INSERT of ``rows`` rows per execution, compiled for the connection's dialect, and its parameter sets
    (``matrix`` holds a multiple of ``rows`` rows). The parameters are positional (SQLite's ``?``), in the order
    SQL renders them: row by row, each in table order, as ``names`` and ``matrix`` are."""
    stmt = insert(table).values([{name: bindparam(f"{name}_{row}") for name in names} for row in range(rows)])
    flat = matrix.reshape(-1, rows * len(names)).tolist()
    return str(stmt.compile(dialect=conn.dialect)), list(map(tuple, flat))


def _fetch(conn: Connection, stmt: Select[Any]) -> list[Any]:
    """The driver's rows of ``stmt``: SQLAlchemy's Row objects and per-value result processors (e.g. text to date
    on SQLite) cost more than the query at a backtest's size, so callers convert the columns with pandas."""
    result = conn.execute(stmt)
    try:
        with _driver_errors(conn, str(stmt)):
            return result.cursor.fetchall()
    finally:
        result.close()


@contextmanager
def _driver_errors(conn: Connection, statement: str) -> Iterator[None]:
    """Driver errors raised outside SQLAlchemy's execute (COPY, raw fetch) become SQLAlchemy's, as ``_guard`` expects."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi.Error, dialect=conn.dialect) from exc


def _map_distinct(values: Sequence[Any], convert: Callable[[Any], Any]) -> np.ndarray:
    """``convert`` applied once per distinct value (a long backfill repeats each session date many times)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    converted = np.empty(len(uniques) + 1, dtype=object)
    converted[:-1] = [convert(value) for value in uniques]
    converted[-1] = convert(None)  # code -1: missing
    return converted[codes]


def _to_datetimes(series: pd.Series, utc: bool) -> pd.Series:
    """Dates or timestamps as the driver returns them (ISO text on SQLite, date/datetime objects on PostgreSQL)."""
    if utc:
        return pd.to_datetime(series, utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    return pd.to_datetime(series, format="ISO8601").astype("datetime64[ns]")


def _with_driver(url: URL) -> URL:
    """``postgresql://`` (or ``postgres://``) means psycopg 3 here; SQLAlchemy 2.0 would pick psycopg2."""
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; the journal writes them in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers work while a step writes; the busy timeout makes concurrent writers wait, not fail.
    A 32 MB page cache and in-memory temporary tables: a backtest replaces ~600k strategy choices in one
    transaction, and with SQLite's 2 MB default it spilled and re-read pages ~2 million times (~5 s)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA temp_store = MEMORY")
        cursor.execute("PRAGMA cache_size = -32768")
    finally:
        cursor.close()


def _label(kind: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{kind} must be a non-empty string, got {value!r}")
    return value


def _columns(
    table: Table, rules: _Rules, rows: pd.DataFrame, sessions: set[date], context: Mapping[str, str]
) -> dict[str, np.ndarray]:
    """Validate ``rows`` against ``table`` and return their values column by column (object arrays of the Python
    values the drivers take, None for missing), context columns included. Every check is column-wise: a
    backtest writes hundreds of thousands of strategy choices."""
    name = table.name
    if not isinstance(rows, pd.DataFrame):
        raise TypeError(f"{name}: rows must be a pandas DataFrame, got {type(rows).__name__}")
    if len(rows) == 0:
        return {}
    frame_columns = [column for column in table.columns if column.name != "id" and column.name not in context]
    known = {column.name for column in frame_columns} | set(context)
    if rows.columns.duplicated().any():
        raise ValueError(f"{name}: duplicate column names {sorted(map(str, rows.columns[rows.columns.duplicated()]))}")
    unknown = sorted(str(column) for column in rows.columns if column not in known)
    if unknown:
        raise ValueError(f"{name}: columns {unknown} are not journal columns; expected {sorted(known)}")
    missing = [
        column.name
        for column in frame_columns
        if column.name not in rows.columns and not column.nullable and not isinstance(column.type, DateTime)
    ]
    if missing:
        raise ValueError(f"{name}: missing required columns {missing}")
    for key, expected in context.items():
        if key in rows.columns:
            others = rows[key][rows[key] != expected]
            if len(others):
                raise ValueError(f"{name}: column {key!r} holds {_show(others.unique())}, not {expected!r}")

    count = len(rows)
    values: dict[str, np.ndarray] = {key: np.full(count, value, dtype=object) for key, value in context.items()}
    for column in frame_columns:
        label = f"{name}: column {column.name!r}"
        if column.name not in rows.columns:
            default = datetime.now(UTC) if isinstance(column.type, DateTime) else None
            values[column.name] = np.full(count, default, dtype=object)
        elif column.name == "session":
            values["session"] = _session_values(rows["session"], label, sessions, bool(column.nullable))
        elif isinstance(column.type, Double):
            positive = column.name in rules.positive
            values[column.name] = _float_values(rows[column.name], label, bool(column.nullable), positive)
        elif isinstance(column.type, DateTime):
            values[column.name] = _timestamp_values(rows[column.name], label)
        else:
            values[column.name] = _string_values(
                rows[column.name], label, bool(column.nullable), column.name in rules.may_be_empty
            )

    for column_name, allowed in rules.choices.items():
        bad = set(pd.unique(values[column_name])) - allowed
        if bad:
            raise ValueError(f"{name}: column {column_name!r} holds {_show(bad)}; allowed: {sorted(allowed)}")
    for unique_key in rules.unique:
        if pd.MultiIndex.from_arrays([values[column_name] for column_name in unique_key]).has_duplicates:
            keys = zip(*(values[column_name] for column_name in unique_key), strict=True)
            raise ValueError(f"{name}: {unique_key} must be unique, repeated: {_show(_duplicates(keys))}")
    return values


def _session_values(series: pd.Series, label: str, sessions: set[date], nullable: bool = False) -> np.ndarray:
    codes, uniques = pd.factorize(series)
    missing = int((codes < 0).sum())
    if missing and not nullable:
        raise ValueError(f"{label}: {missing} row(s) have no session")
    if len(uniques) == 0:
        return np.full(len(series), None, dtype=object)
    dates = np.empty(len(uniques), dtype=object)
    dates[:] = [to_session_date(value) for value in uniques]
    outside = sorted(set(dates) - sessions)
    if outside:
        rows_outside = int(np.isin(dates[codes], outside).sum())
        raise ValueError(
            f"{label}: {rows_outside} row(s) fall on sessions {_show(outside)}, which are not among the sessions "
            f"being replaced {_show(sorted(sessions))}"
        )
    picked = dates[codes]
    picked[codes < 0] = None
    return picked


def _float_values(series: pd.Series, label: str, nullable: bool, positive: bool) -> np.ndarray:
    try:
        array = series.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label} must be numeric: {exc}") from exc
    missing = np.isnan(array)
    if missing.any() and not nullable:
        raise ValueError(f"{label} has {int(missing.sum())} NaN/missing row(s) of {len(array)}")
    if np.isinf(array).any():
        raise ValueError(f"{label} has {int(np.isinf(array).sum())} infinite row(s)")
    if positive and (array[~missing] <= 0).any():
        raise ValueError(f"{label} must be positive; {int((array[~missing] <= 0).sum())} row(s) are not")
    values = array.astype(object)  # Python floats
    values[missing] = None
    return values


def _string_values(series: pd.Series, label: str, nullable: bool, may_be_empty: bool) -> np.ndarray:
    missing = series.isna().to_numpy()
    if missing.any() and not nullable:
        raise ValueError(f"{label} has {int(missing.sum())} missing row(s) of {len(series)}")
    # The loop only runs to name the first offending value.
    present = series[~missing]
    if len(present) and pd.api.types.infer_dtype(present, skipna=False) != "string":
        value = next(v for v in present.astype(object) if not isinstance(v, str))
        raise ValueError(f"{label} must hold strings, found {type(value).__name__} {value!r}")
    if not may_be_empty and present.eq("").any():
        raise ValueError(f"{label} has empty strings")
    return series.to_numpy(dtype=object, na_value=None)


def _timestamp_values(series: pd.Series, label: str) -> np.ndarray:
    try:
        stamps = pd.to_datetime(series, utc=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label} must hold timestamps: {exc}") from exc
    if stamps.isna().any():
        raise ValueError(f"{label} has {int(stamps.isna().sum())} missing row(s)")
    return np.asarray(stamps.dt.to_pydatetime(), dtype=object)


def _duplicates[T](items: Iterable[T]) -> list[T]:
    return [item for item, seen in Counter(items).items() if seen > 1]


def _show(items: Iterable[Any], limit: int = 5) -> str:
    """A short rendering of offending values for error messages (dates as ISO strings)."""
    shown = [item.isoformat() if isinstance(item, date) else item for item in items]
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return f"{shown[:limit]}{more}"
