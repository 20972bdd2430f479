"""A SQLite event log that writes a ranged run's per-partition materializations in one transaction.

A backtest over N sessions materializes every session-partitioned asset N times; Dagster's SQLite event
log writes each of those events with its own connections and commits (~15-25 ms apiece here), which
made the instance, not the trading code, the cost of a backtest. With ``DAGSTER_EVENT_BATCH_SIZE`` set,
Dagster hands a step's partition events to ``store_event_batch``; the stock SQLite storage then still
loops over ``store_event``, so this subclass does what dagster-postgres does for the same call: one
insert into the run shard, one into the cross-run index with the asset tags, and the asset's latest
record from the last event. Everything else is the stock storage, pinned to dagster 1.13.27.
"""

import sys
from collections.abc import Sequence
from pathlib import Path

import yaml
from dagster import EventLogEntry
from dagster._core.events import DagsterEventType
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData

_BATCHED = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION}


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """Select it in dagster.yaml (``event_log_storage``, ``base_dir``) with ``DAGSTER_EVENT_BATCH_SIZE``."""

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> "BatchedSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        types = {e.get_dagster_event().event_type for e in events}
        run_ids = {e.run_id for e in events}
        if not events or len(types) != 1 or not types <= _BATCHED or len(run_ids) != 1:
            super().store_event_batch(events)
            return
        insert = self.prepare_insert_event_batch(events)
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(insert)
        with self.index_transaction() as conn:
            # Ids of one multi-row insert ascend in VALUES order; RETURNING order itself is unspecified.
            ids = sorted(row[0] for row in conn.execute(insert.returning(SqlEventLogStorageTable.c.id)))
            self._store_asset_event_tags(conn, events, ids)
            # The asset's latest record only needs the last event, as in dagster-postgres.
            self._store_asset_event(conn, events[-1], ids[-1])


# Dagster reads these at run time; the CLI, the Makefile and the tests all set them.
RUN_ENVIRONMENT = {
    # Hand a step's per-partition events to store_event_batch (above) in batches of this size.
    "DAGSTER_EVENT_BATCH_SIZE": "10000",
    # One "planned" event per asset for a ranged run instead of one per asset and session. Trade-off:
    # a failed run does not mark each partition failed (the run and its checks still show the failure).
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
}


def event_log_config(dagster_home: Path) -> dict:
    """The ``event_log_storage`` entry of dagster.yaml: the stock layout, batched writes."""
    return {
        "module": "trading_pipeline.instance_storage",  # not __name__: this file also runs as __main__
        "class": BatchedSqliteEventLogStorage.__name__,
        "config": {"base_dir": str(dagster_home / "history" / "runs")},
    }


def write_instance_config(dagster_home: Path) -> Path:
    """Create ``dagster.yaml`` for a new DAGSTER_HOME (an existing one is the user's and stays as is)."""
    path = dagster_home / "dagster.yaml"
    if not path.exists():
        dagster_home.mkdir(parents=True, exist_ok=True)
        config = {"event_log_storage": event_log_config(dagster_home), "telemetry": {"enabled": False}}
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


if __name__ == "__main__":
    print(write_instance_config(Path(sys.argv[1]).resolve()))
