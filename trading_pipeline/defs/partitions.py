"""NYSE sessions as Dagster time-window partitions.

A window opens at midnight on each weekday (Friday's runs to Monday) and weekday holidays are excluded by
date; ``TimeWindowPartitionMapping(-1, -1)`` then maps a session to the previous session. Weekday windows
rather than 24-hour windows with weekend exclusions: Dagster merges a range of keys into a subset by
asking, for every gap between two windows, whether a partition lies in it, and with weekend exclusions
every weekend is such a gap (~270 questions per 5-year subset, ~50 subsets per backtest run: seconds).
``end_offset=1`` makes today's session a valid partition once the daily job runs after the close.
"""

from datetime import date, datetime

from dagster import BackfillPolicy, TimeWindowPartitionMapping, TimeWindowPartitionsDefinition

from trading_pipeline.domain import calendar

FIRST_SESSION = "2000-01-03"


def _weekday_holidays() -> list[datetime]:
    """Weekday closures as far ahead as the exchange calendar publishes them (about a year)."""
    closures = calendar.non_session_weekdays(FIRST_SESSION, calendar.last_known_session())
    return [datetime(d.year, d.month, d.day) for d in closures]


sessions_partitions = TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5",
    start=FIRST_SESSION,
    fmt="%Y-%m-%d",
    timezone="America/New_York",
    end_offset=1,
    exclusions=_weekday_holidays(),
)

# Every partitioned asset runs a backfill as ONE run over the whole range: the range is the backtest.
single_run = BackfillPolicy.single_run()

previous_session_mapping = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


def session_dates(partition_keys: list[str] | tuple[str, ...]) -> list[date]:
    """Partition keys (YYYY-MM-DD) as dates, in order."""
    return [date.fromisoformat(k) for k in partition_keys]
