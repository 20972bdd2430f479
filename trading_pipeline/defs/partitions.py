"""NYSE sessions as Dagster daily partitions.

Weekends are excluded by cron and weekday holidays by date, which keeps 24-hour windows so that a
``TimeWindowPartitionMapping(-1, -1)`` maps a session to the previous session (Monday to Friday).
``end_offset=1`` makes today's session a valid partition once the daily job runs after the close.
"""

from datetime import date, datetime

from dagster import BackfillPolicy, DailyPartitionsDefinition, TimeWindowPartitionMapping

from trading_pipeline.domain import calendar

FIRST_SESSION = "2000-01-03"


def _weekday_holidays() -> list[datetime]:
    """Weekday closures as far ahead as the exchange calendar publishes them (about a year)."""
    closures = calendar.non_session_weekdays(FIRST_SESSION, calendar.last_known_session())
    return [datetime(d.year, d.month, d.day) for d in closures]


sessions_partitions = DailyPartitionsDefinition(
    start_date=FIRST_SESSION,
    timezone="America/New_York",
    end_offset=1,
    exclusions=["0 0 * * 6", "0 0 * * 0", *_weekday_holidays()],
)

# Every partitioned asset runs a backfill as ONE run over the whole range: the range is the backtest.
single_run = BackfillPolicy.single_run()

previous_session_mapping = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


def session_dates(partition_keys: list[str] | tuple[str, ...]) -> list[date]:
    """Partition keys (YYYY-MM-DD) as dates, in order."""
    return [date.fromisoformat(k) for k in partition_keys]
