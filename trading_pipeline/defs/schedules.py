"""Schedules on the NYSE calendar: the daily cycle after each session's close, the intraday cycle every 15
minutes in regular hours.

Both ticks on a cron superset (weekdays) and decide from the exchange calendar, so holidays skip and early
closes (13:00) move the daily run to ``minutes_after_close`` after the real close. A session's daily run
has the run key ``daily_cycle:<session>``: re-evaluating a tick (a daemon restart) never launches it twice.
"""

from datetime import date

import pandas as pd
from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from trading_pipeline.defs.intraday.assets import BAR_MINUTES
from trading_pipeline.defs.jobs import DAILY_CYCLE, INTRADAY_CYCLE
from trading_pipeline.defs.partitions import sessions_partitions
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.tags import AS_OF_TAG, TRIGGER_TAG, book_tags
from trading_pipeline.domain import calendar
from trading_pipeline.domain import intraday as rules

# The regular close (16:00) and the early close (13:00) of XNYS; the daily schedule ticks after both.
CLOSE_HOURS = (13, 16)


def _tick(context: ScheduleEvaluationContext) -> pd.Timestamp:
    moment = context.scheduled_execution_time
    if moment is None:
        raise ValueError("the schedule was evaluated without a scheduled execution time")
    stamp = pd.Timestamp(moment)
    return (stamp if stamp.tz is not None else stamp.tz_localize("UTC")).tz_convert(calendar.EXCHANGE_TZ)


def _session_skip(day: date) -> SkipReason | None:
    if not calendar.is_session(day):
        return SkipReason(f"{day} is not an NYSE session")
    if not sessions_partitions.has_partition_key(day.isoformat()):
        return SkipReason(f"{day} is not a partition of the sessions (beyond the published calendar?)")
    return None


def daily_run_time(session: date, minutes_after_close: int) -> pd.Timestamp:
    """When the daily cycle of ``session`` runs: ``minutes_after_close`` after its real close (New York time)."""
    return calendar.session_close(session) + pd.Timedelta(minutes=minutes_after_close)


def build_daily_schedule(
    minutes_after_close: int = 15, default_status=DefaultScheduleStatus.STOPPED
) -> ScheduleDefinition:
    """The daily cycle at ``minutes_after_close`` after each session's close (16:15, or 13:15 on early closes)."""
    if not 0 <= minutes_after_close < 60:
        raise ValueError(f"minutes_after_close must be in [0, 60), got {minutes_after_close}")
    hours = ",".join(str(h) for h in CLOSE_HOURS)

    @schedule(
        name="daily_cycle_schedule",
        job_name=DAILY_CYCLE,
        cron_schedule=f"{minutes_after_close} {hours} * * 1-5",
        execution_timezone=calendar.EXCHANGE_TZ,
        default_status=default_status,
        description=f"The daily cycle {minutes_after_close} min after each NYSE close (early closes honoured).",
    )
    def daily_cycle_schedule(context: ScheduleEvaluationContext, trading: TradingBook):
        moment = _tick(context)
        day = moment.date()
        skip = _session_skip(day)
        if skip is not None:
            return skip
        due = daily_run_time(day, minutes_after_close)
        if moment != due:
            return SkipReason(f"{day} closes at {calendar.session_close(day):%H:%M}: its daily run is at {due:%H:%M}")
        return RunRequest(
            run_key=f"daily_cycle:{day.isoformat()}",
            partition_key=day.isoformat(),
            tags={TRIGGER_TAG: "schedule", **book_tags(trading.book)},
        )

    return daily_cycle_schedule


def build_intraday_schedule(default_status=DefaultScheduleStatus.STOPPED) -> ScheduleDefinition:
    """The intraday cycle at the end of every 15-minute bar of regular hours (09:45 … the close)."""

    @schedule(
        name="intraday_cycle_schedule",
        job_name=INTRADAY_CYCLE,
        cron_schedule=f"*/{BAR_MINUTES} 9-16 * * 1-5",
        execution_timezone=calendar.EXCHANGE_TZ,
        default_status=default_status,
        description="The intraday cycle every 15 minutes in NYSE regular hours, on the bar just completed.",
    )
    def intraday_cycle_schedule(context: ScheduleEvaluationContext, trading: TradingBook):
        moment = _tick(context)
        day = moment.date()
        skip = _session_skip(day)
        if skip is not None:
            return skip
        if moment not in rules.tick_times(day, BAR_MINUTES):
            opening, close = rules.session_hours(day)
            return SkipReason(
                f"{moment:%H:%M} is outside regular hours ({opening.tz_convert(calendar.EXCHANGE_TZ):%H:%M}"
                f"-{close.tz_convert(calendar.EXCHANGE_TZ):%H:%M}) of {day}"
            )
        as_of = moment.tz_convert("UTC").isoformat()
        return RunRequest(
            run_key=f"intraday_cycle:{as_of}",
            partition_key=day.isoformat(),
            tags={AS_OF_TAG: as_of, TRIGGER_TAG: "schedule", **book_tags(trading.book)},
        )

    return intraday_cycle_schedule


daily_cycle_schedule = build_daily_schedule()
intraday_cycle_schedule = build_intraday_schedule()
SCHEDULES = [daily_cycle_schedule, intraday_cycle_schedule]
