"""Shared fixtures: a real Dagster instance in a temporary DAGSTER_HOME, and a helper that runs the daily
cycle over a range of sessions in ONE run, exactly as a single-run backfill launches it."""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, ExecuteInProcessResult, instance_for_test, materialize

from trading_pipeline.definitions import ASSETS, CHECKS, DEFAULT_RESOURCES
from trading_pipeline.defs.resources.journal import default_journal_url
from trading_pipeline.domain.journal import Journal
from trading_pipeline.instance_storage import RUN_ENVIRONMENT, event_log_config
from trading_pipeline_tests.pg import backtest_journals, pg_database, pg_databases, pg_server  # noqa: F401  (PostgreSQL)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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


@dataclass
class CycleRun:
    result: ExecuteInProcessResult
    journal: Journal
    book: str

    def table(self, name: str) -> pd.DataFrame:
        return self.journal.read(name, book=self.book)

    def failed_checks(self) -> list[str]:
        return sorted(e.check_name for e in self.result.get_asset_check_evaluations() if not e.passed)


def run_cycle(instance: DagsterInstance, start: str, end: str, tearsheet: bool = False, **resources) -> CycleRun:
    """Materialize every asset and check of the daily cycle over [start, end] as one run."""
    result = materialize(
        [*ASSETS, *CHECKS],
        instance=instance,
        resources={**DEFAULT_RESOURCES, **resources},
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
        run_config={"ops": {"performance_report": {"config": {"tearsheet": tearsheet}}}},
    )
    trading = resources.get("trading", DEFAULT_RESOURCES["trading"])
    journal = Journal(default_journal_url(Path(instance.root_directory)))
    return CycleRun(result=result, journal=journal, book=trading.book)
