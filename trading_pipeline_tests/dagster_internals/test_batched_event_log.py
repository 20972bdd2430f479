"""The batched SQLite event log records a ranged run exactly as the stock storage would."""

import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetKey,
    BackfillPolicy,
    DagsterEventType,
    DagsterInstance,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    PartitionKeyRange,
    asset,
    asset_check,
    materialize,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from trading_pipeline.dagster_internals.event_log import BatchedSqliteEventLogStorage
from trading_pipeline.instance import write_instance_config

DAYS = DailyPartitionsDefinition(start_date="2020-01-01")


@asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run())
def upstream():
    return MaterializeResult(metadata={"rows": 1})


@asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run(), deps=[upstream])
def downstream():
    return MaterializeResult()


@asset_check(asset=upstream, partitions_def=DAYS)
def upstream_rows(context):
    # Fails when the range reaches February: the whole range is one evaluation.
    end = context.partition_key_range.end
    return AssetCheckResult(passed=end < "2020-02-01", metadata={"range_end": end})


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
    logged = [
        e for e in instance.all_logs(result.run_id) if e.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION
    ]
    expected = DAYS.get_partition_keys_in_range(PartitionKeyRange("2020-01-01", "2020-02-29"))
    assert [e.dagster_event.partition for e in logged if e.dagster_event.asset_key == AssetKey("upstream")] == expected
    assert logged[0].dagster_event.event_specific_data.materialization.metadata["rows"].value == 1
    instance.dispose()


@pytest.mark.parametrize(("end", "status"), [("2020-01-31", "SUCCEEDED"), ("2020-02-29", "FAILED")])
def test_a_ranged_check_gives_each_partition_a_small_planned_row_then_the_range_result(tmp_path, end, status):
    instance = DagsterInstance.from_config(str(write_instance_config(tmp_path).parent))
    result = materialize(
        [upstream, upstream_rows],
        instance=instance,
        tags={"dagster/asset_partition_range_start": "2020-01-01", "dagster/asset_partition_range_end": end},
        raise_on_error=False,
    )
    assert result.run_id
    key = AssetCheckKey(AssetKey("upstream"), "upstream_rows")
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
    by_partition = {r.partition: r for r in records}
    expected = DAYS.get_partition_keys_in_range(PartitionKeyRange("2020-01-01", end))
    assert set(by_partition) == {*expected, None}  # one row per session, and the range's own row
    assert {r.status for r in records} == {AssetCheckExecutionRecordStatus[status]}
    assert {r.evaluation.passed for r in records} == {status == "SUCCEEDED"}
    assert {tuple(r.evaluation.metadata) for r in records} == {("details",), ("range_end",)}
    with instance.event_log_storage.index_connection() as conn:
        sizes = [n for (n,) in conn.exec_driver_sql("SELECT length(evaluation_event) FROM asset_check_executions")]
    assert max(sizes) < 5_000  # not the run's whole planned subset (partitions definition included) per row
    instance.dispose()


def test_templated_event_rows_are_the_stock_rows(tmp_path):
    """Rows made from a template equal the stock rows, including for events that only look alike (1 vs 1.0,
    tags in another order, another asset in between) and for events that are not partitioned materializations."""
    instance = DagsterInstance.from_config(str(write_instance_config(tmp_path).parent))
    result = materialize(
        [upstream, downstream],
        instance=instance,
        tags={"dagster/asset_partition_range_start": "2020-01-01", "dagster/asset_partition_range_end": "2020-01-10"},
    )
    storage = instance.event_log_storage
    logged = list(instance.all_logs(result.run_id))
    first = next(e for e in logged if e.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION)

    def variant(partition, timestamp, **changes):
        data = first.dagster_event.event_specific_data
        materialization = data.materialization._replace(partition=partition, **changes)
        return first._replace(
            timestamp=timestamp,
            dagster_event=first.dagster_event._replace(
                event_specific_data=data._replace(materialization=materialization)
            ),
        )

    metadata = first.dagster_event.event_specific_data.materialization.metadata
    tags = first.dagster_event.event_specific_data.materialization.tags
    events = [
        *(variant(f"2021-01-{day:02}", 1.7e9 + day / 7, metadata=metadata) for day in range(1, 6)),
        variant("2021-02-01", 1.7e9, metadata={"rows": MetadataValue.float(1.0)}),  # equal to 1 as a tuple
        variant("2021-02-02", 1.7e9, metadata=metadata, tags=dict(reversed(tags.items()))),
        variant('2021-02-03 "quoted"\\', 1.7e9, metadata=metadata),
        *logged,
    ]
    assert storage._event_rows(events) == [storage._event_to_row(e) for e in events]
    instance.dispose()
