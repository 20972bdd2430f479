"""The daily cycle over a range of sessions in ONE run, exactly as a single-run backfill launches it."""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from dagster import AssetKey, DagsterEventType, DagsterInstance, EventRecordsFilter, ExecuteInProcessResult, materialize

from trading_pipeline.definitions import ASSETS, CHECKS, DEFAULT_RESOURCES
from trading_pipeline.defs.resources.journal import default_journal_url
from trading_pipeline.journal import Journal
from trading_pipeline.journal.books import run_rows

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass
class CycleRun:
    result: ExecuteInProcessResult
    journal: Journal
    book: str

    def table(self, name: str) -> pd.DataFrame:
        """The book's committed rows (what its current results are)."""
        return self.journal.read(name, book=self.book)

    def written(self, name: str) -> pd.DataFrame:
        """What this run wrote, committed or not (a failed run's rows stay apart from the book)."""
        return run_rows(self.journal, self.book, self.result.run_id, name)

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


def asset_metadata(instance: DagsterInstance, result, asset: str) -> dict:
    """The metadata of ``asset``'s last materialization in ``result``, with the details (tables, pictures) a
    step over a range puts on one observation of the asset (``defs/details.py``)."""
    materialized = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset]
    metadata = dict(materialized[-1].materialization.metadata)
    for record in asset_observations(instance, result.run_id, asset):
        metadata.update(record.asset_observation.metadata)
    return metadata


def asset_observations(instance: DagsterInstance, run_id: str, asset: str) -> list:
    """The observations of ``asset`` a run stored (a step's batch of them is not in its result's events)."""
    records = instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_OBSERVATION, asset_key=AssetKey(asset))
    )
    return sorted((r for r in records if r.run_id == run_id), key=lambda r: r.storage_id)
