"""Schedules on the NYSE calendar: the daily cycle after each session's close, the intraday cycle every 15
minutes in regular hours.

Both tick on a cron superset (weekdays) and decide from the exchange calendar, so holidays skip. The daily run
is ``minutes_after_close`` after 16:00 New York, early closes (13:00) included: a broker queues the day's orders
for the next open only from 16:00 (``domain.market_hours``). A session's daily run has the run key
``daily_cycle:<session>``: re-evaluating a tick (a daemon restart) never launches it twice. A real broker's book
whose daily runs were missed (the desk was down) gets them first, oldest first, on the next tick: each is
caught up (settled, its orders not sent) before the session of the day trades.
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
from trading_pipeline.defs.resources.broker import Broker
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.tags import AS_OF_TAG, TRIGGER_TAG, book_tags
from trading_pipeline.domain import calendar
from trading_pipeline.domain import intraday as rules
from trading_pipeline.domain.market_hours import QUEUED_FROM

# Missed sessions the schedule catches up by itself; an older gap is the operator's (trading-pipeline cycle).
MAX_CATCH_UP = 10


def tick_time(context: ScheduleEvaluationContext) -> pd.Timestamp:
    """The tick's scheduled time in New York (every schedule of the project reads it so)."""
    moment = context.scheduled_execution_time
    if moment is None:
        raise ValueError("the schedule was evaluated without a scheduled execution time")
    stamp = pd.Timestamp(moment)
    return (stamp if stamp.tz is not None else stamp.tz_localize("UTC")).tz_convert(calendar.EXCHANGE_TZ)


def session_skip(day: date) -> SkipReason | None:
    """Why ``day`` gets no session run (not a session, or beyond the partitions), or None."""
    if not calendar.is_session(day):
        return SkipReason(f"{day} is not an NYSE session")
    if not sessions_partitions.has_partition_key(day.isoformat()):
        return SkipReason(f"{day} is not a partition of the sessions (beyond the published calendar?)")
    return None


def daily_run_time(session: date, minutes_after_close: int) -> pd.Timestamp:
    """When the daily cycle of ``session`` runs: ``minutes_after_close`` after its close, or after 16:00 New York
    on an early close (its orders cannot be queued before)."""
    floor = pd.Timestamp(session).tz_localize(calendar.EXCHANGE_TZ) + pd.Timedelta(hours=QUEUED_FROM.hour)
    return max(calendar.session_close(session), floor) + pd.Timedelta(minutes=minutes_after_close)


def missed_sessions(last_closed: date | None, day: date, limit: int | None = MAX_CATCH_UP) -> list[date]:
    """The sessions after the book's last closed one and before ``day``; none for a new book, or a gap longer
    than ``limit`` (too old to replay unattended; None: any gap, for an operator who asks)."""
    if last_closed is None:
        return []
    missed = [d.date() for d in calendar.sessions(calendar.next_session(last_closed), day) if d.date() < day]
    return missed if limit is None or len(missed) <= limit else []


def build_daily_schedule(
    minutes_after_close: int = 15, default_status=DefaultScheduleStatus.STOPPED
) -> ScheduleDefinition:
    """The daily cycle at ``minutes_after_close`` after each session's close (16:15, or 13:15 on early closes)."""
    if not 0 <= minutes_after_close < 60:
        raise ValueError(f"minutes_after_close must be in [0, 60), got {minutes_after_close}")

    @schedule(
        name="daily_cycle_schedule",
        job_name=DAILY_CYCLE,
        cron_schedule=f"{minutes_after_close} {QUEUED_FROM.hour} * * 1-5",
        execution_timezone=calendar.EXCHANGE_TZ,
        default_status=default_status,
        description=f"The daily cycle at 16:{minutes_after_close:02d} New York each NYSE session (after early closes "
        "too), missed sessions of a real broker's book first.",
    )
    def daily_cycle_schedule(
        context: ScheduleEvaluationContext, trading: TradingBook, broker: Broker, journal: JournalResource
    ):
        moment = tick_time(context)
        day = moment.date()
        skip = session_skip(day)
        if skip is not None:
            return skip
        due = daily_run_time(day, minutes_after_close)
        if moment != due:
            return SkipReason(f"{day}'s daily run is at {due:%H:%M}")
        missed: list[date] = []
        if broker.kind != "simulated":
            saved = journal.journal.load_book_state(trading.book, before=day)
            missed = missed_sessions(None if saved is None else saved[0], day)
            if saved is not None and not missed and calendar.next_session(saved[0]).date() < day:
                context.log.warning(
                    f"book {trading.book} last closed {saved[0]}: more than {MAX_CATCH_UP} sessions missed, catch "
                    f"them up with trading-pipeline cycle --session (oldest first) before {day} can trade"
                )
        return [
            RunRequest(
                run_key=f"daily_cycle:{session.isoformat()}",
                partition_key=session.isoformat(),
                tags={TRIGGER_TAG: "schedule" if session == day else "catch_up", **book_tags(trading.book)},
            )
            for session in (*missed, day)
        ]

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
        moment = tick_time(context)
        day = moment.date()
        skip = session_skip(day)
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
