"""On a Dagster release other than the verified one, the boundary falls back to Dagster's stock behaviour and warns
once; the instance and a ranged run keep working (run in a fresh interpreter whose Dagster reports another version)."""

import subprocess
import sys
import textwrap

from trading_pipeline.dagster_internals import VERIFIED_DAGSTER

SCRIPT = textwrap.dedent(
    """
    import sys, warnings
    import dagster
    dagster.__version__ = "9.9.9"  # any release but the verified one
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        from trading_pipeline.dagster_internals import event_log
        from trading_pipeline.dagster_internals.batched_event_log import BatchedSqliteEventLogStorage as Batched
    from pathlib import Path
    from dagster import AssetKey, BackfillPolicy, DagsterInstance, DailyPartitionsDefinition, MaterializeResult, asset, materialize
    from dagster._core.storage.event_log import SqliteEventLogStorage
    from dagster_postgres.event_log import PostgresEventLogStorage
    from trading_pipeline.instance import write_instance_config

    assert event_log.BatchedSqliteEventLogStorage is SqliteEventLogStorage
    assert event_log.PooledPostgresEventLogStorage is PostgresEventLogStorage
    messages = [str(w.message) for w in caught if w.category.__name__ == "UnverifiedDagsterWarning"]
    assert len(messages) == 1 and "9.9.9 is installed" in messages[0], messages

    days = DailyPartitionsDefinition(start_date="2020-01-01")

    @asset(partitions_def=days, backfill_policy=BackfillPolicy.single_run())
    def daily():
        return MaterializeResult()

    instance = DagsterInstance.from_config(str(write_instance_config(Path(sys.argv[1])).parent))
    assert type(instance.event_log_storage) is SqliteEventLogStorage and not isinstance(instance.event_log_storage, Batched)
    result = materialize(
        [daily],
        instance=instance,
        tags={"dagster/asset_partition_range_start": "2020-01-01", "dagster/asset_partition_range_end": "2020-01-31"},
    )
    assert result.success and len(instance.get_materialized_partitions(AssetKey("daily"))) == 31
    print("fallback ok")
    """
)


def test_another_dagster_release_gets_the_stock_event_log_and_one_warning(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fallback ok" in done.stdout


def test_the_verified_release_is_the_installed_one():
    """The pins in pyproject.toml and the boundary name the same Dagster (bump both together)."""
    import dagster

    assert dagster.__version__ == VERIFIED_DAGSTER
