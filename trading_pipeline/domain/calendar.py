"""NYSE (XNYS) trading sessions, the single source of truth for which dates are trading days.

Built on ``exchange_calendars`` with an explicit 1995 start, because its default window reaches back only
about 20 years and our history starts in 2000. Dates are tz-naive, normalized session labels; only
:func:`session_open` and :func:`session_close` return tz-aware (America/New_York) times.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime
from functools import lru_cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd

CALENDAR_NAME = "XNYS"
CALENDAR_START = "1995-01-01"
EXCHANGE_TZ = "America/New_York"

DayLike = str | date | datetime | pd.Timestamp | np.datetime64


@lru_cache(maxsize=1)
def _calendar() -> xcals.ExchangeCalendar:
    with warnings.catch_warnings():
        # exchange_calendars' constructor trips a pandas 3.1 deprecation in its own code; nothing we can act on.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray", category=DeprecationWarning)
        return xcals.get_calendar(CALENDAR_NAME, start=CALENDAR_START)


@lru_cache(maxsize=1)
def _sessions() -> pd.DatetimeIndex:
    return _calendar().sessions


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
    closes = _calendar().early_closes
    return closes[(closes >= lo) & (closes <= hi)]


def _checked_session(day: DayLike) -> pd.Timestamp:
    ts = _day(day)
    if not is_session(ts):
        raise ValueError(f"{ts.date()} is not a {CALENDAR_NAME} session")
    return ts


def session_open(day: DayLike) -> pd.Timestamp:
    """The open of session ``day`` in New York time (09:30)."""
    return _calendar().session_open(_checked_session(day)).tz_convert(EXCHANGE_TZ)


def session_close(day: DayLike) -> pd.Timestamp:
    """The close of session ``day`` in New York time (13:00 on early closes)."""
    return _calendar().session_close(_checked_session(day)).tz_convert(EXCHANGE_TZ)


def last_known_session() -> pd.Timestamp:
    """The calendar's horizon: holidays are published about a year ahead and no further."""
    return _sessions()[-1]
