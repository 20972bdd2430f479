"""Shared fixtures: a real Dagster instance in a temporary DAGSTER_HOME (the daily cycle's runner is in cycles.py)."""

import pytest
from dagster import DagsterInstance, instance_for_test

from trading_pipeline.dagster_internals.event_log import event_log_config
from trading_pipeline.instance import RUN_ENVIRONMENT
from trading_pipeline_tests.pg import (  # noqa: F401  (PostgreSQL)
    backtest_journals,
    pg_database,
    pg_databases,
    pg_server,
    pgvector_database,
    pgvector_server,
)


@pytest.fixture(autouse=True)
def _run_environment(monkeypatch):
    """The product's run settings (batched event writes), as the CLI and the Makefile set them."""
    for key, value in RUN_ENVIRONMENT.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def instance(tmp_path) -> DagsterInstance:
    """The instance a new DAGSTER_HOME gets from the project: SQLite with the batched event log."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home), overrides={"event_log_storage": event_log_config(home)}) as inst:
        yield inst
