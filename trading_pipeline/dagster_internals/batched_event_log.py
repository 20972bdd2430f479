"""A SQLite event log with batched writes, built on Dagster 1.13.27's private storage classes.

Only ``dagster_internals.event_log`` imports this module, and only on the version it was written against. The event log below writes a ranged run's per-partition materializations in one transaction. A backtest over N sessions materializes every session-partitioned asset N times; Dagster's SQLite event
log writes each of those events with its own connections and commits (~15-25 ms apiece here), which
made the instance, not the trading code, the cost of a backtest. With ``DAGSTER_EVENT_BATCH_SIZE`` set,
Dagster hands a step's partition events to ``store_event_batch``; the stock SQLite storage then still
loops over ``store_event``, so this subclass does what dagster-postgres does for the same call: one
insert into the run shard, one into the cross-run index with the asset tags, and the asset's latest
records from the last events. A partitioned check's planned rows each get a small event for their own
partition instead of a copy of the run's whole planned event. Everything else is the stock storage.
"""

import json
import operator
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dagster import AssetKey, EventLogEntry, MetadataValue
from dagster._core.definitions.partitions.subset import DefaultPartitionsSubset
from dagster._core.events import DagsterEventType
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._record import copy
from dagster._serdes import ConfigurableClassData, serialize_value
from sqlalchemy import create_engine
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import Connection, Engine

_BATCHED = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION}
# Connections kept open: the index shard and the most recently used run shards.
_OPEN_SHARDS = 4
# Bytes per page of a new run shard (the journal sets its own pages, in journal/store.py).
RUN_SHARD_PAGE_SIZE = 32768


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """Select it in dagster.yaml (``event_log_storage``, ``base_dir``) with ``DAGSTER_EVENT_BATCH_SIZE``."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()  # before the stock set-up, which connects
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> "BatchedSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        """The stock transaction on a connection kept open between uses.

        The stock storage opens and closes a connection for every write; closing the last connection to a
        WAL database checkpoints and deletes its WAL, so a run paid that I/O for each of its events. The
        connections of the index and of the few most recent run shards stay open instead (SQLite's own
        auto-checkpoint still runs on commit). Access stays serialized by the storage's lock.
        """
        with self._db_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = create_engine(
                    self.conn_string_for_shard(shard),
                    pool_size=1,
                    max_overflow=4,  # set-up (alembic) nests a second connection
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
                )
                sqlalchemy_event.listen(engine, "connect", _relaxed_sync)
                if shard not in self._initialized_dbs:
                    self._initdb(engine)
                    self._initialized_dbs.add(shard)
            self._engines[shard] = engine
            while len(self._engines) > _OPEN_SHARDS:
                self._engines.popitem(last=False)[1].dispose()
            with engine.connect() as conn, conn.begin():
                yield conn

    def dispose(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
        super().dispose()

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        types = {e.get_dagster_event().event_type for e in events}
        if not events or not types <= _BATCHED or len({e.run_id for e in events}) != 1:
            super().store_event_batch(events)
            return
        # executemany of one compiled statement: a multi-row VALUES would compile a bind per row and column.
        rows = self._event_rows(events)
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            insert = SqlEventLogStorageTable.insert().returning(
                SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
            )
            ids = [row[0] for row in conn.execute(insert, rows)]
            self._store_asset_event_tags(conn, events, ids)
            # An asset's latest record only needs its last event of each type, in stream order (as dagster-postgres).
            last = {
                (e.get_dagster_event().asset_key, e.get_dagster_event().event_type): i for i, e in enumerate(events)
            }
            for i in sorted(last.values()):
                self._store_asset_event(conn, events[i], ids[i])

    def _event_rows(self, events: Sequence[EventLogEntry]) -> list[dict[str, Any]]:
        """The stock rows of ``events``; the JSON of a step's per-partition materializations comes from one template.

        A ranged step's materializations of an asset are one event but for their partition and time, and
        serializing each (~0.1 ms) was a third of the event log's cost in a backtest. The first of an asset is
        serialized with marks in those two places; each next one that is the same event otherwise (see
        ``_alike``) gets that text with its own two values put in. Anything else gets the stock row.
        """
        templates: dict[AssetKey, tuple[EventLogEntry, str, dict[str, Any]]] = {}
        rows = []
        for event in events:
            marked = _marked(event)
            if marked is None:
                rows.append(self._event_to_row(event))
                continue
            asset_key = event.get_dagster_event().asset_key
            known = templates.get(asset_key)
            if known is None or not _alike(marked, known[0]):
                text = serialize_value(marked)
                if text.count(_PARTITION_JSON) != 1 or text.count(_TIME_JSON) != 1:
                    rows.append(self._event_to_row(event))
                    continue
                known = templates[asset_key] = (marked, text, self._event_to_row(event))
            partition = event.get_dagster_event().partition
            event_json = (
                known[1]
                .replace(_PARTITION_JSON, json.dumps(partition))
                .replace(_TIME_JSON, json.dumps(event.timestamp))
            )
            rows.append(
                {
                    **known[2],
                    "event": event_json,
                    "timestamp": self._event_insert_timestamp(event),
                    "partition": partition,
                }
            )
        return rows

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        """The stock method's rows, each with an event planned for its own partition only.

        The stock rows each repeat the run's whole planned event, whose subset carries the partitions
        definition with every holiday exclusion: ~27 kB a row, i.e. ~380 MB and seconds of writing for the
        checks of a 5-year backtest. The event is serialized once and the row's key put in its place.
        """
        planned = event.get_dagster_event().event_specific_data
        if planned.partitions_subset is None:
            super()._store_asset_check_evaluation_planned(event, event_id)
            return
        placeholder = f"{uuid.uuid4().hex}-partition"
        single = copy(planned, partitions_subset=DefaultPartitionsSubset({placeholder}))
        template = serialize_value(
            event._replace(dagster_event=event.get_dagster_event()._replace(event_specific_data=single))
        )
        quoted = json.dumps(placeholder)
        row = {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event_timestamp": self._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
        }
        rows = [
            {**row, "partition": key, "evaluation_event": template.replace(quoted, json.dumps(key))}
            for key in planned.partitions_subset.get_partition_keys()
        ]
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert(), rows)

    def _update_asset_check_evaluation(self, event: EventLogEntry, event_id: int | None) -> None:
        """The stock update, then a ranged run's result on each of its planned partition rows.

        A check run over a range of sessions gets ONE evaluation without a partition (Dagster 1.13 has no
        per-partition check results in a ranged step), so the stock storage leaves every session's planned
        row planned, and the UI reports those sessions' checks as skipped. The range was checked as one unit:
        each session row gets that evaluation (its metadata names the sessions that failed, if any).
        """
        super()._update_asset_check_evaluation(event, event_id)
        evaluation = event.get_dagster_event().event_specific_data
        if evaluation.partition is not None:
            return
        table = AssetCheckExecutionsTable
        status = (
            AssetCheckExecutionRecordStatus.SUCCEEDED if evaluation.passed else AssetCheckExecutionRecordStatus.FAILED
        )
        with self.index_connection() as conn:
            conn.execute(
                table.update()
                .where(
                    table.c.asset_key == evaluation.asset_key.to_string(),
                    table.c.check_name == evaluation.check_name,
                    table.c.run_id == event.run_id,
                    table.c.partition.is_not(None),
                    table.c.execution_status == AssetCheckExecutionRecordStatus.PLANNED.value,
                )
                .values(
                    execution_status=status.value,
                    evaluation_event=serialize_value(_without_metadata(event)),
                    evaluation_event_timestamp=self._event_insert_timestamp(event),
                    evaluation_event_storage_id=event_id,
                    materialization_event_storage_id=(
                        evaluation.target_materialization_data.storage_id
                        if evaluation.target_materialization_data
                        else None
                    ),
                )
            )


_PARTITION_MARK = "\x00partition\x00"
_TIME_MARK = 1.2345678901234567e-300
_PARTITION_JSON, _TIME_JSON = json.dumps(_PARTITION_MARK), json.dumps(_TIME_MARK)


def _marked(event: EventLogEntry) -> EventLogEntry | None:
    """A partitioned materialization with the marks in place of its partition and time; None for other events."""
    dagster_event = event.dagster_event
    if dagster_event is None or dagster_event.event_type_value != DagsterEventType.ASSET_MATERIALIZATION.value:
        return None
    data = dagster_event.event_specific_data
    materialization = data.materialization
    if not isinstance(materialization.partition, str):
        return None
    marked = data._replace(materialization=materialization._replace(partition=_PARTITION_MARK))
    return event._replace(timestamp=_TIME_MARK, dagster_event=dagster_event._replace(event_specific_data=marked))


def _alike(a: EventLogEntry, b: EventLogEntry) -> bool:
    """Equal, and serialized alike: tuples compare 1 == 1.0 and dicts ignore their order, so the metadata values
    must be the very same objects (Dagster copies a range's metadata into each partition's event) and the
    metadata and tags in the same order."""
    if a != b:
        return False
    ma, mb = (
        a.get_dagster_event().event_specific_data.materialization,
        b.get_dagster_event().event_specific_data.materialization,
    )
    return (
        list(ma.metadata) == list(mb.metadata)
        and all(map(operator.is_, ma.metadata.values(), mb.metadata.values()))
        and list((ma.tags or {}).items()) == list((mb.tags or {}).items())
    )


def _without_metadata(event: EventLogEntry) -> EventLogEntry:
    """The evaluation event as each session's row keeps it: its result, not a copy of its tables per session
    (the range's own row keeps the full evaluation)."""
    dagster_event = event.get_dagster_event()
    evaluation = copy(dagster_event.event_specific_data, metadata={"details": MetadataValue.text(_SEE_RANGE_ROW)})
    return event._replace(dagster_event=dagster_event._replace(event_specific_data=evaluation))


_SEE_RANGE_ROW = "checked with the whole range of its run: the run's evaluation has the details"


def _relaxed_sync(dbapi_connection, _record) -> None:
    """WAL with synchronous=NORMAL: a commit no longer waits for the disk (SQLite's recommended setting for
    WAL). A power cut can lose the last events, never corrupt the log; a run's events are not orders.
    Temporary B-trees in memory and a 16 MB page cache: with the defaults (temp files, 2 MB) a 5-year
    backtest's event writes went through ~300k temp-file writes and re-read spilled pages from the WAL.
    A new run shard gets 32 KB pages (the stock storage creates the index shard itself, with 4 KB): a
    materialization's ~3 KB of JSON then fits in a page instead of overflowing into a chain of them."""
    dbapi_connection.execute(f"PRAGMA page_size = {RUN_SHARD_PAGE_SIZE}")
    dbapi_connection.execute("PRAGMA synchronous = NORMAL")
    dbapi_connection.execute("PRAGMA temp_store = MEMORY")
    dbapi_connection.execute("PRAGMA cache_size = -16384")
