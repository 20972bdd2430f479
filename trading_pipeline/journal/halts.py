"""The books' kill switch in the journal: halt a book, resume it, and the halt in force.

A book has at most one halt in force (``resumed_at`` unset); halting a halted book or resuming a running one is
refused, naming the halt in force. The rows stay as the book's history. The halt and resume jobs hold the book's
lock while they write, so no run of the book is under way when its halt changes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import insert, select, update

from trading_pipeline.domain.risk.halt import Halt, require_signature
from trading_pipeline.journal.frames import as_utc
from trading_pipeline.journal.store import Journal
from trading_pipeline.journal.tables import HaltRow


class HaltStateError(ValueError):
    """A halt of a halted book, or a resume of a book that is not halted."""


def halt(
    journal: Journal, book: str, operator: str, reason: str, flatten: bool, run_id: str, at: datetime | None = None
) -> Halt:
    """Halt ``book`` from ``at`` (now); refused if it is halted already."""
    halted = Halt(book=book, operator=operator, reason=reason, halted_at=at or datetime.now(UTC), flatten=flatten)
    table = HaltRow.__table__
    with journal.writing(f"halt book {book!r}") as conn:
        current = _in_force(conn, book)
        if current is not None:
            raise HaltStateError(f"book {book!r} is already {current.describe()}; resume it first")
        row = {
            "book": book,
            "halted_at": halted.halted_at,
            "operator": operator,
            "reason": reason,
            "flatten": flatten,
            "run_id": run_id,
        }
        conn.execute(insert(table), [row])
    return halted


def resume(journal: Journal, book: str, operator: str, reason: str, at: datetime | None = None) -> Halt:
    """Lift ``book``'s halt (returned); refused if it is not halted."""
    require_signature(f"a resume of book {book!r}", operator, reason)
    table = HaltRow.__table__
    with journal.writing(f"resume book {book!r}") as conn:
        current = _in_force(conn, book)
        if current is None:
            raise HaltStateError(f"book {book!r} is not halted: nothing to resume")
        conn.execute(
            update(table)
            .where(table.c.book == book, table.c.resumed_at.is_(None))
            .values(resumed_at=at or datetime.now(UTC), resumed_by=operator, resume_reason=reason)
        )
    return current


def active_halt(journal: Journal, book: str) -> Halt | None:
    """The halt of ``book`` in force, or None."""
    with journal.reading(f"read the halt of book {book!r}") as conn:
        return _in_force(conn, book)


def halt_history(journal: Journal, book: str) -> pd.DataFrame:
    """Every halt of ``book``, oldest first (times in UTC)."""
    table = HaltRow.__table__
    columns = [c for c in table.columns if c.name != "id"]
    with journal.reading(f"read the halts of book {book!r}") as conn:
        rows = conn.execute(select(*columns).where(table.c.book == book).order_by(table.c.id)).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=[c.name for c in columns])
    for column in ("halted_at", "resumed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _in_force(conn, book: str) -> Halt | None:
    table = HaltRow.__table__
    row = conn.execute(
        select(table.c.operator, table.c.reason, table.c.halted_at, table.c.flatten)
        .where(table.c.book == book, table.c.resumed_at.is_(None))
        .order_by(table.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return Halt(
        book=book, operator=row.operator, reason=row.reason, halted_at=as_utc(row.halted_at), flatten=row.flatten
    )
