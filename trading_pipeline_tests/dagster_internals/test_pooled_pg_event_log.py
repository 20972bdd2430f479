"""The pooled PostgreSQL event log records a run as the stock dagster-postgres storage does, on far fewer server
sessions (the stock one opens a connection per event). Against a real PostgreSQL server."""

import yaml
from dagster import (
    AssetKey,
    DagsterInstance,
    MaterializeResult,
    asset,
    materialize,
)

from trading_pipeline.dagster_internals.event_log import PooledPostgresEventLogStorage
from trading_pipeline.instance import POSTGRES_ENV, write_instance_config

STEPS = 20


def _assets():
    def make(i):
        @asset(name=f"a{i}")
        def _asset():
            return MaterializeResult(metadata={"i": i})

        return _asset

    return [make(i) for i in range(STEPS)]


def _sessions(database) -> int:
    """Sessions the server has established to the database (PostgreSQL 14+: pg_stat_database.sessions)."""
    with database.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (database.dbname,)).fetchone()
    return int(row[0])


def _run(home, database, pooled: bool) -> tuple[int, int]:
    """(sessions the run opened, events it stored) on an instance with the pooled or the stock event log."""
    config = yaml.safe_load(write_instance_config(home, postgres=True).read_text())
    if not pooled:  # the stock storage, for comparison
        config["event_log_storage"] = {**config["event_log_storage"], "module": "dagster_postgres.event_log",
                                       "class": "PostgresEventLogStorage"}  # fmt: skip
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PooledPostgresEventLogStorage) == pooled
        before = _sessions(database)
        result = materialize(_assets(), instance=instance)
        opened = _sessions(database) - before
        assert result.success
        for i in range(STEPS):
            records = instance.fetch_materializations(AssetKey(f"a{i}"), limit=10).records
            mine = [r for r in records if r.run_id == result.run_id]
            assert [r.asset_materialization.metadata["i"].value for r in mine] == [i]
        return opened, len(instance.all_logs(result.run_id))


def test_a_run_is_recorded_in_full_with_no_connection_per_event(tmp_path, pg_databases, monkeypatch):
    database = pg_databases("events")
    values = {"hostname": database.host, "port": database.port, "username": database.user,
              "password": database.password, "db_name": database.dbname}  # fmt: skip
    for key, var in POSTGRES_ENV.items():
        monkeypatch.setenv(var, str(values[key]))
    stock, events = _run(tmp_path / "stock", database, pooled=False)
    pooled, same_events = _run(tmp_path / "pooled", database, pooled=True)
    assert events == same_events > 5 * STEPS
    assert stock > events  # the stock storage: a connection per event, and the run storage's
    assert stock - pooled >= events  # pooled: none per event (what is left is the run storage's, a few a step)
