"""Metadata too large to copy once per session: tables and pictures of a step that covers a range.

Dagster stores a ranged step's materialization metadata once per session of its range (a 5-year backfill: 1,259
copies). The trade tables, the equity picture and market_bars' provider tables, ~130 KB a session, made a
500-symbol backfill's event log ~250 MB larger and its steps seconds slower. Over a range they go on one
observation of the asset for the range's last session (its Events tab in the UI), and the materializations say
where; a one-session run (the live cycle) keeps them on its materialization.
"""

from collections.abc import Mapping

from dagster import AssetExecutionContext, AssetObservation, MetadataValue

from trading_pipeline.dagster_internals.events import log_observations


def with_details(context: AssetExecutionContext, metadata: Mapping, details: Mapping) -> dict:
    """``metadata`` for every session's materialization, with ``details`` or where to find them."""
    keys = context.partition_keys
    if len(keys) == 1:
        return {**metadata, **details}
    last = keys[-1]
    log_observations(context, [AssetObservation(asset_key=context.asset_key, partition=last, metadata=dict(details))])
    where = f"{', '.join(details)}: on this asset's observation of {last} (once for the range, not per session)"
    return {**metadata, "details": MetadataValue.text(where)}
