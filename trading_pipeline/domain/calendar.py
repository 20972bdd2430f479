"""NYSE (XNYS) trading sessions, the single source of truth for which dates are trading days.

The sessions come from a file committed with the code, ``data/nyse_calendar.csv``: the weekday closures (holidays and
unscheduled closures) and the early closes from 1995 to its horizon, as ``exchange_calendars`` published them when
the file was written. A library computed at import would move with each day's horizon and each release, so two
processes loaded months apart could disagree about the sessions and the Dagster partitions built on them; the file
makes them one set, reviewed in git. Extend it (before the horizon draws near, about once a year) with
``python -m trading_pipeline.domain.calendar --through YYYY-MM-DD``, which rewrites it from the installed
``exchange_calendars``; a test keeps the file equal to the library over the span it covers.

Dates are tz-naive, normalized session labels; only :func:`session_open` and :func:`session_close` return tz-aware
(America/New_York) times.
"""

from __future__ import annotations

import argparse
import warnings
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

CALENDAR_NAME = "XNYS"
CALENDAR_START = "1995-01-01"
EXCHANGE_TZ = "America/New_York"
REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)
CALENDAR_FILE = Path(__file__).resolve().parents[1] / "data" / "nyse_calendar.csv"

DayLike = str | date | datetime | pd.Timestamp | np.datetime64


@lru_cache(maxsize=1)
def _calendar_file() -> pd.DataFrame:
    """The committed closures and early closes (date, kind, close), and the horizon row that ends the file."""
    table = pd.read_csv(CALENDAR_FILE, dtype={"kind": "str", "close": "str"}, keep_default_na=False)
    table["date"] = pd.to_datetime(table["date"], format="%Y-%m-%d")
    kinds = set(table["kind"]) - {"closed", "early_close", "horizon"}
    if kinds or (table["kind"] == "horizon").sum() != 1:
        raise ValueError(
            f"{CALENDAR_FILE}: expected kinds closed/early_close and one horizon row, found {sorted(kinds)}"
        )
    return table


def horizon() -> pd.Timestamp:
    """The last date the calendar file covers: no session is known after it."""
    table = _calendar_file()
    return table.loc[table["kind"] == "horizon", "date"].iloc[0]


@lru_cache(maxsize=1)
def _sessions() -> pd.DatetimeIndex:
    table = _calendar_file()
    closed = pd.DatetimeIndex(table.loc[table["kind"] == "closed", "date"])
    return pd.bdate_range(CALENDAR_START, horizon()).difference(closed)


@lru_cache(maxsize=1)
def _early_closes() -> pd.Series:
    """Early close times (New York wall clock) by session."""
    table = _calendar_file()
    early = table[table["kind"] == "early_close"]
    return pd.Series([time.fromisoformat(c) for c in early["close"]], index=pd.DatetimeIndex(early["date"]))


def _day(day: DayLike) -> pd.Timestamp:
    """Parse a day and check it lies inside the calendar, so lookups never fall off its edges silently."""
    ts = pd.Timestamp(day)
    if ts is pd.NaT:
        raise ValueError(f"not a date: {day!r}")
    if ts.tz is not None:
        raise ValueError(f"expected a tz-naive date, got {ts!r}")
    ts = ts.normalize()
    first, last = _sessions()[0], _sessions()[-1]
    if not first <= ts <= last:
        raise ValueError(f"{ts.date()} is outside the {CALENDAR_NAME} calendar ({first.date()}..{last.date()})")
    return ts


def _range(start: DayLike, end: DayLike) -> tuple[pd.Timestamp, pd.Timestamp]:
    lo, hi = _day(start), _day(end)
    if lo > hi:
        raise ValueError(f"start {lo.date()} is after end {hi.date()}")
    return lo, hi


def _session_at(position: int, day: pd.Timestamp) -> pd.Timestamp:
    all_sessions = _sessions()
    if not 0 <= position < len(all_sessions):
        raise ValueError(f"offset from {day.date()} leaves the {CALENDAR_NAME} calendar")
    return all_sessions[position]


def sessions(start: DayLike, end: DayLike) -> pd.DatetimeIndex:
    """NYSE sessions between ``start`` and ``end``, both inclusive."""
    lo, hi = _range(start, end)
    all_sessions = _sessions()
    return all_sessions[all_sessions.searchsorted(lo) : all_sessions.searchsorted(hi, side="right")]


def is_session(day: DayLike) -> bool:
    ts = _day(day)
    all_sessions = _sessions()
    i = all_sessions.searchsorted(ts)
    return bool(i < len(all_sessions) and all_sessions[i] == ts)


def previous_session(day: DayLike) -> pd.Timestamp:
    """The last session strictly before ``day`` (which need not be a session)."""
    ts = _day(day)
    return _session_at(int(_sessions().searchsorted(ts)) - 1, ts)


def next_session(day: DayLike) -> pd.Timestamp:
    """The first session strictly after ``day`` (which need not be a session)."""
    ts = _day(day)
    return _session_at(int(_sessions().searchsorted(ts, side="right")), ts)


def session_offset(day: DayLike, n: int) -> pd.Timestamp:
    """The session ``n`` sessions after (n > 0) or before (n < 0) ``day``.

    For ``n <= 0`` a non-session ``day`` is anchored on the last session on or before it (the session whose
    data is known on that day), so lookback windows can be taken from any date. Forward offsets need a
    session, because "the next n sessions" from a holiday has no single sensible anchor.
    """
    ts = _day(day)
    anchor = int(_sessions().searchsorted(ts, side="right")) - 1
    if n > 0 and not is_session(ts):
        raise ValueError(f"{ts.date()} is not a {CALENDAR_NAME} session; forward offsets need a session")
    return _session_at(anchor + n, ts)


def non_session_weekdays(start: DayLike, end: DayLike) -> list[pd.Timestamp]:
    """Weekdays in ``[start, end]`` on which NYSE is closed (holidays and unscheduled closures)."""
    lo, hi = _range(start, end)
    return list(pd.bdate_range(lo, hi).difference(sessions(lo, hi)))


def early_closes(start: DayLike, end: DayLike) -> pd.DatetimeIndex:
    """Sessions in ``[start, end]`` that close before the regular 16:00."""
    lo, hi = _range(start, end)
    closes = _early_closes().index
    return closes[(closes >= lo) & (closes <= hi)]


def _checked_session(day: DayLike) -> pd.Timestamp:
    ts = _day(day)
    if not is_session(ts):
        raise ValueError(f"{ts.date()} is not a {CALENDAR_NAME} session")
    return ts


def session_open(day: DayLike) -> pd.Timestamp:
    """The open of session ``day`` in New York time (09:30: NYSE has opened then throughout the file's span)."""
    return pd.Timestamp(datetime.combine(_checked_session(day).date(), REGULAR_OPEN)).tz_localize(EXCHANGE_TZ)


def session_close(day: DayLike) -> pd.Timestamp:
    """The close of session ``day`` in New York time (13:00 on early closes)."""
    ts = _checked_session(day)
    close = _early_closes().get(ts, REGULAR_CLOSE)
    return pd.Timestamp(datetime.combine(ts.date(), close)).tz_localize(EXCHANGE_TZ)


def last_known_session() -> pd.Timestamp:
    """The last session of the calendar file: past it, nothing is known (extend the file)."""
    return _sessions()[-1]


def write_calendar_file(through: DayLike, path: Path = CALENDAR_FILE) -> Path:
    """Rewrite the calendar file from the installed ``exchange_calendars`` for [CALENDAR_START, ``through``]."""
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange_calendars' constructor trips a pandas 3.1 deprecation in its own code; nothing we can act on.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray", category=DeprecationWarning)
        library = xcals.get_calendar(CALENDAR_NAME, start=CALENDAR_START)
    end = pd.Timestamp(through).normalize()
    if end > library.last_session:
        raise ValueError(
            f"exchange_calendars {xcals.__version__} publishes sessions up to {library.last_session.date()}, not "
            f"{end.date()}: upgrade it or choose an earlier date"
        )
    known = library.sessions[library.sessions <= end]
    closed = pd.bdate_range(CALENDAR_START, end).difference(known)
    early = library.early_closes[library.early_closes <= end]
    early_times = library.schedule.loc[early, "close"].dt.tz_convert(EXCHANGE_TZ).dt.strftime("%H:%M")
    rows = pd.concat(
        [
            pd.DataFrame({"date": closed, "kind": "closed", "close": ""}),
            pd.DataFrame({"date": early, "kind": "early_close", "close": early_times.to_numpy()}),
            pd.DataFrame({"date": [end], "kind": ["horizon"], "close": [""]}),
        ]
    ).sort_values(["date", "kind"])
    rows.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m trading_pipeline.domain.calendar", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--through", required=True, help="last date the file covers (YYYY-MM-DD)")
    print(write_calendar_file(parser.parse_args().through))
