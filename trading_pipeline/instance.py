"""The Dagster instance a new DAGSTER_HOME gets: its ``dagster.yaml`` and the run settings Dagster reads.

PostgreSQL (dagster-postgres) when ``DAGSTER_POSTGRES_*`` is set, else SQLite under DAGSTER_HOME with the batched
event log of ``dagster_internals``; run admission by the queued coordinator (one run per book, a cap on backfills).
``python -m trading_pipeline.instance DAGSTER_HOME`` writes the file (``make ui`` does).
"""

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

from trading_pipeline.dagster_internals.event_log import event_log_config, postgres_event_log_config
from trading_pipeline.defs.tags import BACKFILL_TAG, BOOK_LOCK_TAG

# Dagster reads these at run time; the CLI, the Makefile and the tests all set them.
RUN_ENVIRONMENT = {
    # Hand a step's per-partition events to the event log's store_event_batch in batches of this size.
    "DAGSTER_EVENT_BATCH_SIZE": "10000",
    # One "planned" event per asset for a ranged run instead of one per asset and session. Trade-off:
    # a failed run does not mark each partition failed (the run and its checks still show the failure).
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
}


# dagster.yaml names these variables, never their values: the file holds no secret, the environment does.
POSTGRES_ENV = {
    "hostname": "DAGSTER_POSTGRES_HOST",
    "port": "DAGSTER_POSTGRES_PORT",
    "username": "DAGSTER_POSTGRES_USER",
    "password": "DAGSTER_POSTGRES_PASSWORD",
    "db_name": "DAGSTER_POSTGRES_DB",
}


def postgres_storage_config() -> dict:
    """The storage entries of dagster.yaml on PostgreSQL (dagster-postgres: runs, event log and schedules). The event
    log is dagster-postgres' with pooled connections (``dagster_internals.pg_event_log``): the stock one connects
    anew for each event. dagster-postgres batches a ranged run's events itself, as the batched SQLite storage does.
    """
    postgres_db = {key: {"env": var} for key, var in POSTGRES_ENV.items()}

    def stock(module: str, cls: str) -> dict:
        return {"module": module, "class": cls, "config": {"postgres_db": postgres_db}}

    return {
        "run_storage": stock("dagster_postgres.run_storage", "PostgresRunStorage"),
        "event_log_storage": postgres_event_log_config(postgres_db),
        "schedule_storage": stock("dagster_postgres.schedule_storage", "PostgresScheduleStorage"),
    }


def concurrency_config() -> dict:
    """Run admission by the queued run coordinator (the 1.13 default), for ``dagster dev`` and the deployment alike.

    One run per book lock at a time (the daily, intraday and event cycles of one account never overlap), at most
    two backfills (backtests) so they cannot take every slot, and a limit of 1 for any op pool without its own.
    """
    return {
        "runs": {
            "max_concurrent_runs": 4,
            "tag_concurrency_limits": [
                {"key": BOOK_LOCK_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
                {"key": BACKFILL_TAG, "limit": 2},
            ],
        },
        "pools": {"default_limit": 1},
    }


# The daemon fails runs stuck starting or canceling; a run whose process died while STARTED is failed by the
# dead_run_sensor (the default run launcher cannot check its workers, the book locks can).
RUN_MONITORING = {
    "enabled": True,
    "start_timeout_seconds": 180,
    "cancel_timeout_seconds": 180,
    "poll_interval_seconds": 60,
}


def wants_postgres(environ: Mapping[str, str] = os.environ) -> bool:
    """PostgreSQL when ``DAGSTER_POSTGRES_HOST`` is set; SQLite under DAGSTER_HOME otherwise (``dagster dev``)."""
    return bool(environ.get(POSTGRES_ENV["hostname"]))


def write_instance_config(dagster_home: Path, postgres: bool | None = None) -> Path:
    """Create ``dagster.yaml`` for a new DAGSTER_HOME (an existing one is the user's and stays as is).

    ``postgres`` defaults to ``wants_postgres()``; missing variables are named before anything is written.
    """
    path = dagster_home / "dagster.yaml"
    if path.exists():
        return path
    if postgres if postgres is not None else wants_postgres():
        missing = [var for var in POSTGRES_ENV.values() if var not in os.environ]
        if missing:
            raise ValueError(f"a PostgreSQL Dagster instance needs the environment variables {missing}")
        storage = postgres_storage_config()
    else:
        storage = {"event_log_storage": event_log_config(dagster_home)}
    dagster_home.mkdir(parents=True, exist_ok=True)
    # No telemetry, and no "join the community" dialog over the asset graph on first open.
    config = {
        **storage,
        "concurrency": concurrency_config(),
        "run_monitoring": RUN_MONITORING,
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


if __name__ == "__main__":
    print(write_instance_config(Path(sys.argv[1]).resolve()))
