"""The journal's tables: one row class per table, every row tied to its book, session and the run that wrote it.

Row classes end in ``Row`` so they never read as the domain's records (``domain.book.Order`` is an order;
``OrderRow`` is how the journal stores one). Constraint names are fixed so that migrations can refer to them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import Date, DateTime, Double, Index, MetaData, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class OrderStatus(StrEnum):
    SUBMITTED = "submitted"
    FILLED = "filled"
    PARTIALLY_FILLED = "partially_filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    PENDING = "pending"
    REPLACED = "replaced"  # a broker-held exit moved (a new order carries it on)
    NOT_SENT = "not_sent"  # decided on a session caught up after its next open


class RiskAction(StrEnum):
    REJECTED = "rejected"
    CLIPPED = "clipped"
    CANCELLED = "cancelled"
    CHECK_FAILED = "check_failed"
    QUARANTINED = "quarantined"
    INFO = "info"


class Base(DeclarativeBase):
    """Declarative base of the journal."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar = {str: String(), float: Double(), datetime: DateTime(timezone=True)}


class OrderRow(Base):
    # A client order id is unique within its book: a run's staged rows repeat the ids of the rows they replace.
    __tablename__ = "orders"
    __table_args__ = (Index(None, "book", "session"), UniqueConstraint("book", "client_order_id"))

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    client_order_id: Mapped[str]
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


class FillRow(Base):
    __tablename__ = "fills"
    __table_args__ = (Index(None, "book", "session"), UniqueConstraint("book", "fill_id"))

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    fill_id: Mapped[str]
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


class PositionRow(Base):
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


class EquityRow(Base):
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


class RiskEventRow(Base):
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


class BookStateRow(Base):
    __tablename__ = "book_states"
    __table_args__ = (UniqueConstraint("book", "session"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str]
    session: Mapped[date] = mapped_column(Date)
    run_id: Mapped[str]
    state: Mapped[str] = mapped_column(Text, comment="JSON: the book the next session starts from")


class LLMCallRow(Base):
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


class AuditReportRow(Base):
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


class StrategyChoiceRow(Base):
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


class WatchlistRow(Base):
    """A session's watchlist: the symbols the ensemble of pickers suggests watching, ranked, with who picked them."""

    __tablename__ = "watchlist"
    __table_args__ = (Index(None, "book", "session"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str]
    session: Mapped[date] = mapped_column(Date, comment="the session the symbol is on the watchlist")
    run_id: Mapped[str]
    symbol: Mapped[str]
    rank: Mapped[float]
    score: Mapped[float] = mapped_column(comment="the ensemble's weighted score in [0, 1]")
    pickers: Mapped[str] = mapped_column(comment="the pickers that selected it, e.g. 'metric+fuzzy'")
    reason: Mapped[str] = mapped_column(Text)
    divergence: Mapped[str] = mapped_column(
        Text, comment="who selected and who rejected it; empty when the pickers agree"
    )


class WatchlistReturnRow(Base):
    """The forward return of a watchlist entry over ``horizon`` sessions, and the equal-weight universe's, written
    by the run of the session that made it known (``session`` = suggested_on + horizon sessions): never earlier."""

    __tablename__ = "watchlist_returns"
    __table_args__ = (Index(None, "book", "session"), Index(None, "book", "suggested_on"))

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str]
    session: Mapped[date] = mapped_column(Date, comment="the session whose close made the return known")
    run_id: Mapped[str]
    suggested_on: Mapped[date] = mapped_column(Date, comment="the watchlist's session")
    symbol: Mapped[str]
    horizon: Mapped[float] = mapped_column(comment="sessions")
    forward_return: Mapped[float | None] = mapped_column(comment="None: no clean close on one of the two sessions")
    universe_return: Mapped[float | None] = mapped_column(comment="mean forward return of the eligible universe")


class AlertRow(Base):
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


class BacktestRow(Base):
    """A backtest's identity and headline results, kept across runs: not per-book data that a new backtest of
    the book replaces, so it is not in ``TABLES`` (``delete_book`` keeps it)."""

    __tablename__ = "backtests"
    __table_args__ = (Index(None, "book"), UniqueConstraint("run_id", "point"))

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str]
    point: Mapped[int] = mapped_column(
        server_default="0", comment="a sweep's point (one run keeps one row per point); 0 for a backtest"
    )
    book: Mapped[str]
    name: Mapped[str]
    parameters: Mapped[str] = mapped_column(Text, comment="JSON: what was varied (strategy pin, limits, ...)")
    code_version: Mapped[str] = mapped_column(comment="package version, +git commit when known")
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    metrics: Mapped[str] = mapped_column(Text, comment="JSON: performance_report's metrics")
    created_at: Mapped[datetime] = mapped_column(comment="UTC")


class BookRow(Base):
    """A book's kind, fixed when its first run writes it: a paper or live book is never reset by a backtest."""

    __tablename__ = "books"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(unique=True)
    kind: Mapped[str] = mapped_column(comment="simulated, paper or live")
    initial_capital: Mapped[float] = mapped_column(
        comment="the cash of its first session (the journal's audit starts from it)"
    )
    created_at: Mapped[datetime] = mapped_column(comment="UTC")


class BookRunRow(Base):
    """Every run that wrote a book: its sessions, whether it replaced the book, and what became of its rows."""

    __tablename__ = "book_runs"
    __table_args__ = (Index(None, "book"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(unique=True)
    book: Mapped[str]
    staged: Mapped[bool] = mapped_column(comment="rows kept apart until the run commits")
    fresh: Mapped[bool] = mapped_column(comment="the run replaces the whole book (fresh capital)")
    first_session: Mapped[date] = mapped_column(Date)
    last_session: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(comment="writing, committed, abandoned (rows kept) or swept")
    started_at: Mapped[datetime] = mapped_column(comment="UTC")
    finished_at: Mapped[datetime | None] = mapped_column(comment="UTC")


class BookLockRow(Base):
    """The one writer of a book: which run holds it, from which process, and when it last showed it was alive."""

    __tablename__ = "book_locks"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str] = mapped_column(unique=True)
    run_id: Mapped[str]
    pid: Mapped[int]
    host: Mapped[str]
    acquired_at: Mapped[datetime] = mapped_column(comment="UTC")
    heartbeat_at: Mapped[datetime] = mapped_column(comment="UTC")


class OrderStatusUpdateRow(Base):
    """A staged run's new status for an order an earlier run journaled (applied when the run commits)."""

    __tablename__ = "order_status_updates"
    __table_args__ = (UniqueConstraint("book", "client_order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str] = mapped_column(comment="the staging key of the run")
    client_order_id: Mapped[str]
    status: Mapped[str]


class HaltRow(Base):
    """A book's kill switch: who halted it, when and why, and who lifted it. The history is kept; a book has at most
    one halt not yet lifted. Not per session (a backtest replacing the book keeps it), so it is not in ``TABLES``."""

    __tablename__ = "halts"
    __table_args__ = (Index(None, "book"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    book: Mapped[str]
    halted_at: Mapped[datetime] = mapped_column(comment="UTC")
    operator: Mapped[str]
    reason: Mapped[str] = mapped_column(Text)
    flatten: Mapped[bool] = mapped_column(comment="its positions were to be sold at the next open")
    resumed_at: Mapped[datetime | None] = mapped_column(comment="UTC; None while the halt is in force")
    resumed_by: Mapped[str | None]
    resume_reason: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str] = mapped_column(comment="the run that halted the book")


TABLES: dict[str, Table] = {
    model.__tablename__: model.__table__  # type: ignore[misc]
    for model in (
        OrderRow,
        FillRow,
        PositionRow,
        EquityRow,
        RiskEventRow,
        BookStateRow,
        LLMCallRow,
        AuditReportRow,
        StrategyChoiceRow,
        WatchlistRow,
        WatchlistReturnRow,
    )
}
