"""The whole backtest journaled on PostgreSQL equals the same backtest journaled on SQLite."""

import pandas as pd
from sqlalchemy import DateTime, create_engine, select

from trading_pipeline.journal import TABLES, Journal

# Differ between two runs by construction: which run wrote the row, and when.
_RUN_SPECIFIC = {"id", "run_id"}


def _contents(url: str) -> dict[str, pd.DataFrame]:
    """Every journal table in write order, without surrogate ids, run ids and wall-clock timestamps."""
    engine = create_engine(Journal(url).database_url)
    contents = {}
    with engine.connect() as conn:
        for name, table in TABLES.items():
            columns = [c for c in table.columns if c.name not in _RUN_SPECIFIC and not isinstance(c.type, DateTime)]
            rows = conn.execute(select(*columns).order_by(table.c.id)).all()
            contents[name] = pd.DataFrame([tuple(r) for r in rows], columns=[c.name for c in columns])
    engine.dispose()
    return contents


def test_the_backtest_runs_on_a_postgresql_journal_and_equals_the_sqlite_one(backtest_journals):
    assert backtest_journals.successes == (True, True)
    on_sqlite = _contents(backtest_journals.sqlite_url)
    on_postgres = _contents(backtest_journals.postgres.url())
    assert set(on_postgres) == set(TABLES)
    for name in ("orders", "fills", "positions", "equity", "book_states"):
        assert len(on_postgres[name]) > 0, f"the backtest journaled no {name}"
    for name, frame in on_sqlite.items():
        pd.testing.assert_frame_equal(on_postgres[name], frame, check_exact=True, obj=f"journal table {name}")


def test_the_postgresql_journal_is_read_back_like_the_sqlite_one(backtest_journals):
    """Journal.read (what the report and the next run use) returns identical frames from both databases."""
    book = backtest_journals.book
    sqlite, postgres = Journal(backtest_journals.sqlite_url), Journal(backtest_journals.postgres.url())
    for name in ("equity", "positions", "fills"):
        pd.testing.assert_frame_equal(
            postgres.read(name, book=book).drop(columns="run_id"), sqlite.read(name, book=book).drop(columns="run_id")
        )
    assert postgres.load_book_state(book, "2009-01-01") == sqlite.load_book_state(book, "2009-01-01")
