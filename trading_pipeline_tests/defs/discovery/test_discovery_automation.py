"""The discovery schedule evaluated at chosen instants, and the divergence sensor over a real watchlist run."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from dagster import RunRequest, build_schedule_context, build_sensor_context, materialize

from trading_pipeline.definitions import DEFAULT_RESOURCES, defs
from trading_pipeline.defs.discovery.schedules import (
    build_discovery_schedule,
    discovery_divergence_sensor,
    discovery_schedule,
)
from trading_pipeline.defs.discovery.universe import universe
from trading_pipeline.defs.discovery.watchlist import watchlist
from trading_pipeline.defs.resources.discovery import SymbolDiscovery
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.journal import Journal

NY = ZoneInfo("America/New_York")
ON = SymbolDiscovery(enabled=True, max_watchlist=3)


def _tick(schedule, instance, discovery, *moment: int):
    resources = {"discovery": discovery, "trading": DEFAULT_RESOURCES["trading"]}
    with build_schedule_context(
        scheduled_execution_time=datetime(*moment, tzinfo=NY),
        repository_def=defs.get_repository_def(),
        resources=resources,
        instance=instance,
    ) as context:
        data = schedule.evaluate_tick(context)
    return data.run_requests or [], data.skip_message


def test_the_session_is_discovered_before_its_open_and_only_on_sessions_with_discovery_on(instance):
    assert (
        discovery_schedule.cron_schedule == "0 9 * * 1-5"
        and discovery_schedule.execution_timezone == "America/New_York"
    )
    (request,), _ = _tick(discovery_schedule, instance, ON, 2012, 11, 26, 9, 0)
    assert isinstance(request, RunRequest) and request.job_name in (None, "discovery_cycle")
    assert (request.partition_key, request.run_key) == ("2012-11-26", "discovery_cycle:2012-11-26")
    assert request.tags["trading_pipeline/book"] == DEFAULT_RESOURCES["trading"].book
    requests, reason = _tick(discovery_schedule, instance, ON, 2012, 11, 22, 9, 0)  # Thanksgiving
    assert requests == [] and "not an NYSE session" in reason
    requests, reason = _tick(discovery_schedule, instance, SymbolDiscovery(), 2012, 11, 26, 9, 0)
    assert requests == [] and "discovery is off" in reason
    assert build_discovery_schedule(minutes_before_open=90).cron_schedule == "0 8 * * 1-5"
    with pytest.raises(ValueError, match="minutes_before_open"):
        build_discovery_schedule(minutes_before_open=0)


def test_a_watchlist_where_the_pickers_disagree_is_alerted_once(instance, tmp_path):
    journal = JournalResource(url=f"sqlite:///{tmp_path / 'journal.db'}")
    result = materialize(
        [universe, watchlist],
        instance=instance,
        resources={**DEFAULT_RESOURCES, "discovery": ON, "journal": journal},
        tags={"dagster/asset_partition_range_start": "2012-05-01", "dagster/asset_partition_range_end": "2012-06-29"},
    )
    divergent = result.asset_materializations_for_node("watchlist")[-1].metadata["divergent"].value
    assert divergent > 0  # the bundled five disagree on some sessions of that range

    def evaluate(cursor=None):
        with build_sensor_context(
            instance=instance,
            cursor=cursor,
            repository_def=defs.get_repository_def(),
            resources={"alerter": DEFAULT_RESOURCES["alerter"], "journal": journal},
        ) as context:
            return discovery_divergence_sensor.evaluate_tick(context)

    first = evaluate()
    rows = Journal(journal.url).read_alerts()
    assert rows["kind"].tolist() == ["discovery_divergence"]
    assert f"disagree on {divergent} symbol(s)" in rows["summary"].iloc[0]
    again = evaluate(first.cursor)
    assert "alert" not in (again.skip_message or "") and len(Journal(journal.url).read_alerts()) == 1
