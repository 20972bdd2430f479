"""NYSE sessions as Dagster time-window partitions.

A window opens at midnight on each weekday (Friday's runs to Monday) and weekday holidays are excluded by
date; ``TimeWindowPartitionMapping(-1, -1)`` then maps a session to the previous session. Weekday windows
rather than 24-hour windows with weekend exclusions: Dagster merges a range of keys into a subset by
asking, for every gap between two windows, whether a partition lies in it, and with weekend exclusions
every weekend is such a gap (~270 questions per 5-year subset, ~50 subsets per backtest run: seconds).
``end_offset=1`` makes today's session a valid partition once the daily job runs after the close.

The exclusions and the end come from the committed calendar file (``domain.calendar``), so every process that loads
the definitions, whenever it was started, sees the same partitions; past the file's horizon there are none until the
file is extended.
"""

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from dagster import (
    BackfillPolicy,
    BetaWarning,
    PreviewWarning,
    TimeWindowPartitionMapping,
    TimeWindowPartitionsDefinition,
)

from trading_pipeline.domain import calendar

FIRST_SESSION = "2000-01-03"


def _weekday_holidays() -> list[datetime]:
    """Weekday closures from the first session to the calendar file's horizon."""
    closures = calendar.non_session_weekdays(FIRST_SESSION, calendar.horizon())
    return [datetime(d.year, d.month, d.day) for d in closures]


sessions_partitions = TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5",
    start=FIRST_SESSION,
    end=(calendar.horizon() + timedelta(days=1)).strftime("%Y-%m-%d"),
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


@contextmanager
def ranged_apis() -> Iterator[None]:
    """Dagster's single-run backfill policy (beta) and partitioned asset checks (preview), used on purpose: they are
    what makes a backtest one run over its range. Their warnings are muted inside this block only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        warnings.simplefilter("ignore", PreviewWarning)
        yield


def ranged[F: Callable](decorator_factory: Callable[..., Callable[[F], F]]) -> Callable[..., Callable[[F], F]]:
    """``decorator_factory`` (``asset``, ``multi_asset``, ``asset_check``...) configured and applied within
    ``ranged_apis``: ``@ranged(asset)(partitions_def=..., backfill_policy=single_run)``."""

    def configure(*args, **kwargs) -> Callable[[F], F]:
        with ranged_apis():
            decorator = decorator_factory(*args, **kwargs)

        def apply(fn: F) -> F:
            with ranged_apis():
                return decorator(fn)

        return apply

    return configure
