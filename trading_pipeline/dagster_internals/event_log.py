"""Which SQLite event log a new DAGSTER_HOME gets: the batched one on the verified Dagster, the stock one otherwise.

``dagster.yaml`` names this module; on an unverified Dagster it serves the stock storage under the same name, so an
instance written earlier still opens.
"""

from pathlib import Path

from dagster._core.storage.event_log import SqliteEventLogStorage

from trading_pipeline.dagster_internals import SUPPORTED, warn_fallback

if SUPPORTED:
    from trading_pipeline.dagster_internals.batched_event_log import BatchedSqliteEventLogStorage
else:
    warn_fallback("the SQLite event log writes each event on its own (Dagster's stock storage)")
    BatchedSqliteEventLogStorage = SqliteEventLogStorage  # type: ignore[misc]  (the name dagster.yaml gives it)


def event_log_config(dagster_home: Path) -> dict:
    """The ``event_log_storage`` entry of dagster.yaml: the stock layout, batched writes."""
    return {
        "module": __name__,
        "class": BatchedSqliteEventLogStorage.__name__,
        "config": {"base_dir": str(dagster_home / "history" / "runs")},
    }
