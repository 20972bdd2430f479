"""Which event log an instance gets: on the verified Dagster the batched SQLite one, or on PostgreSQL the pooled
one; the stock storages otherwise.

``dagster.yaml`` names this module; on an unverified Dagster it serves the stock storages under the same names, so
an instance written earlier still opens.
"""

from pathlib import Path

from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster_postgres.event_log import PostgresEventLogStorage

from trading_pipeline.dagster_internals import SUPPORTED, warn_fallback

if SUPPORTED:
    from trading_pipeline.dagster_internals.batched_event_log import BatchedSqliteEventLogStorage
    from trading_pipeline.dagster_internals.pg_event_log import PooledPostgresEventLogStorage
else:
    warn_fallback("the event log writes each event on its own connection or transaction (Dagster's stock storages)")
    BatchedSqliteEventLogStorage = SqliteEventLogStorage  # type: ignore[misc]  (the names dagster.yaml gives them)
    PooledPostgresEventLogStorage = PostgresEventLogStorage  # type: ignore[misc]


def event_log_config(dagster_home: Path) -> dict:
    """The ``event_log_storage`` entry of dagster.yaml: the stock layout, batched writes."""
    return {
        "module": __name__,
        "class": BatchedSqliteEventLogStorage.__name__,
        "config": {"base_dir": str(dagster_home / "history" / "runs")},
    }


def postgres_event_log_config(postgres_db: dict) -> dict:
    """The ``event_log_storage`` entry of dagster.yaml on PostgreSQL: the stock tables, pooled connections."""
    return {"module": __name__, "class": PooledPostgresEventLogStorage.__name__, "config": {"postgres_db": postgres_db}}
