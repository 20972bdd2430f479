"""The decorator shared by every session-partitioned table asset."""

from dagster import asset

from trading_pipeline.defs.partitions import ranged, sessions_partitions, single_run


def session_table(group_name: str, **kwargs):
    """A DataFrame asset per NYSE session, kept in the session Parquet store and backfilled in one run."""
    return ranged(asset)(
        partitions_def=sessions_partitions,
        backfill_policy=single_run,
        io_manager_key="session_store",
        group_name=group_name,
        kinds={"pandas"},
        **kwargs,
    )
