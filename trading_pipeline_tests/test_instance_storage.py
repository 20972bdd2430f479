"""The batched SQLite event log records a ranged run exactly as the stock storage would."""

import pytest
from dagster import (
    AssetKey,
    BackfillPolicy,
    DagsterEventType,
    DagsterInstance,
    DailyPartitionsDefinition,
    MaterializeResult,
    PartitionKeyRange,
    asset,
    materialize,
)

from trading_pipeline.instance_storage import BatchedSqliteEventLogStorage, write_instance_config

DAYS = DailyPartitionsDefinition(start_date="2020-01-01")


@asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run())
def upstream():
    return MaterializeResult(metadata={"rows": 1})


@asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run(), deps=[upstream])
def downstream():
    return MaterializeResult()


@pytest.mark.parametrize("batched", [True, False])
def test_a_ranged_run_leaves_every_partition_materialized(tmp_path, monkeypatch, batched):
    if batched:
        monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "10000")
    instance = DagsterInstance.from_config(str(write_instance_config(tmp_path).parent))
    assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage)

    result = materialize(
        [upstream, downstream],
        instance=instance,
        tags={"dagster/asset_partition_range_start": "2020-01-01", "dagster/asset_partition_range_end": "2020-02-29"},
    )

    assert result.success
    for key in (AssetKey("upstream"), AssetKey("downstream")):
        assert len(instance.get_materialized_partitions(key)) == 60
        assert instance.get_latest_materialization_event(key).dagster_event.partition == "2020-02-29"
    logged = [e for e in instance.all_logs(result.run_id) if e.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION]
    expected = DAYS.get_partition_keys_in_range(PartitionKeyRange("2020-01-01", "2020-02-29"))
    assert [e.dagster_event.partition for e in logged if e.dagster_event.asset_key == AssetKey("upstream")] == expected
    assert logged[0].dagster_event.event_specific_data.materialization.metadata["rows"].value == 1
    instance.dispose()
