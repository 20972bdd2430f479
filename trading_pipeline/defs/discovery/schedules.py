"""Discovery's automation: the session's universe and watchlist before its open, and an alert when pickers split.

The watchlist of a session needs only the close before it, so it is ready before the open: the schedule runs the
``discovery_cycle`` job for the day's session ``minutes_before_open`` before 09:30 New York (run key
``discovery_cycle:<session>``: a re-evaluated tick never launches it twice). It skips while discovery is off.
The daily cycle after the close materializes them again, the LLM picker's answers then served from its cache.
"""

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    EventLogEntry,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SkipReason,
    asset_sensor,
    schedule,
)

from trading_pipeline.defs.jobs import DISCOVERY_CYCLE
from trading_pipeline.defs.resources.alerts import Alert, Alerter
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.discovery import SymbolDiscovery
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.schedules import session_skip, tick_time
from trading_pipeline.defs.tags import TRIGGER_TAG, book_tags
from trading_pipeline.domain import calendar

OPEN_HOUR, OPEN_MINUTE = 9, 30


def build_discovery_schedule(
    minutes_before_open: int = 30, default_status=DefaultScheduleStatus.STOPPED
) -> ScheduleDefinition:
    """The discovery cycle ``minutes_before_open`` (1..570) before each session's 09:30 open."""
    if not 0 < minutes_before_open <= OPEN_HOUR * 60 + OPEN_MINUTE:
        raise ValueError(f"minutes_before_open must be in (0, 570], got {minutes_before_open}")
    at = OPEN_HOUR * 60 + OPEN_MINUTE - minutes_before_open

    @schedule(
        name="discovery_schedule",
        job_name=DISCOVERY_CYCLE,
        cron_schedule=f"{at % 60} {at // 60} * * 1-5",
        execution_timezone=calendar.EXCHANGE_TZ,
        default_status=default_status,
        description=f"The session's universe and watchlist at {at // 60:02d}:{at % 60:02d} New York, before the open.",
    )
    def discovery_schedule(context: ScheduleEvaluationContext, discovery: SymbolDiscovery, trading: TradingBook):
        if not discovery.enabled:
            return SkipReason("discovery is off (the discovery resource's enabled)")
        day = tick_time(context).date()
        skip = session_skip(day)
        if skip is not None:
            return skip
        return RunRequest(
            run_key=f"{DISCOVERY_CYCLE}:{day.isoformat()}",
            partition_key=day.isoformat(),
            tags={TRIGGER_TAG: "schedule", **book_tags(trading.book)},
        )

    return discovery_schedule


def divergence_alert(entry: EventLogEntry) -> Alert | None:
    """An alert naming where the pickers split in a watchlist materialization, or None when they agreed."""
    materialization = entry.asset_materialization
    metadata = materialization.metadata if materialization else {}
    divergent = metadata.get("divergent")
    if divergent is None or not divergent.value:
        return None
    partition = materialization.partition if materialization else None
    listed = metadata.get("divergences")
    return Alert(
        kind="discovery_divergence",
        title=f"watchlist{f' of {partition}' if partition else ''}: the pickers disagree on {divergent.value} symbol(s)",
        summary=str(listed.value) if listed is not None else f"{divergent.value} divergent rows",
        run_id=entry.run_id,
        step="watchlist",
    )


@asset_sensor(
    asset_key=AssetKey("watchlist"),
    name="discovery_divergence_sensor",
    default_status=DefaultSensorStatus.STOPPED,
    description="A watchlist where the pickers disagree (one selected what another rejected): an alert.",
)
def discovery_divergence_sensor(
    context: SensorEvaluationContext, asset_event: EventLogEntry, alerter: Alerter, journal: JournalResource
):
    alert = divergence_alert(asset_event)
    if alert is None:
        return SkipReason("the pickers agree on the latest watchlist")
    delivery = alerter.send(journal.journal, alert)
    return SkipReason(f"{alert.title}: alert {delivery}")


discovery_schedule = build_discovery_schedule()
DISCOVERY_SCHEDULES = [discovery_schedule]
DISCOVERY_SENSORS = [discovery_divergence_sensor]
