"""The market clock and calendar (GET /v2/clock, /v2/calendar) and the session moments the sandbox clock passes.

Everything comes from the XNYS calendar (``domain.calendar``): holidays, and early closes at 13:00.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, Literal

import pandas as pd

from trading_pipeline.domain import calendar
from trading_pipeline.domain.intraday import session_hours
from trading_pipeline.sandbox.wire import bad_request, parse_time

Moment = Literal["open", "close"]


def _local(moment: datetime | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(moment).tz_convert(calendar.EXCHANGE_TZ)


def hours(session: date) -> tuple[datetime, datetime]:
    """(open, close) of ``session`` in New York time."""
    opening, close = session_hours(session)
    return _local(opening).to_pydatetime(), _local(close).to_pydatetime()


def session_moments(after: datetime, until: datetime) -> list[tuple[datetime, date, Moment]]:
    """Every session open and close in (``after``, ``until``], in time order."""
    first, last = _local(after).date(), _local(until).date()
    moments = []
    for day in calendar.sessions(first, last):
        session = day.date()
        for moment, kind in zip(hours(session), ("open", "close"), strict=True):
            if after < moment <= until:
                moments.append((moment, session, kind))
    return moments  # type: ignore[return-value]


def next_moment(now: datetime, kind: Moment) -> datetime:
    """The first session open (or close) strictly after ``now``."""
    day = _local(now).date()
    index = 0 if kind == "open" else 1
    if calendar.is_session(day) and hours(day)[index] > now:
        return hours(day)[index]
    return hours(calendar.next_session(day).date())[index]


def market_is_open(now: datetime) -> bool:
    day = _local(now).date()
    if not calendar.is_session(day):
        return False
    opening, close = hours(day)
    return opening <= now < close


def clock_json(now: datetime) -> dict[str, Any]:
    return {
        "timestamp": _local(now).isoformat(),
        "is_open": market_is_open(now),
        "next_open": next_moment(now, "open").isoformat(),
        "next_close": next_moment(now, "close").isoformat(),
    }


def calendar_json(query: Mapping[str, str]) -> list[dict[str, Any]]:
    """GET /v2/calendar: the sessions in [start, end] (by default the calendar's whole range)."""
    try:
        start = _day(query["start"], "start") if "start" in query else calendar.CALENDAR_START
        end = _day(query["end"], "end") if "end" in query else calendar.last_known_session()
        days = calendar.sessions(start, end)
    except ValueError as error:
        raise bad_request(str(error)) from None
    out = []
    for day in days:
        opening, close = hours(day.date())
        out.append(
            {
                "date": day.date().isoformat(),
                "open": opening.strftime("%H:%M"),
                "close": close.strftime("%H:%M"),
                "session_open": "0400",
                "session_close": "2000",
                "settlement_date": calendar.next_session(day).date().isoformat(),  # T+1
            }
        )
    return out


def _day(text: str, name: str) -> date:
    return parse_time(text, name).date() if "T" in text else date.fromisoformat(text)


def advance_target(now: datetime, body: Any) -> datetime:
    """Where POST /sandbox/clock moves the clock: {"advance": "next_open"|"next_close"}, {"minutes": n}, {"to": iso}."""
    if not isinstance(body, dict) or len(body) != 1:
        raise bad_request('send one of {"advance": "next_open"|"next_close"}, {"minutes": n}, {"to": "<RFC 3339>"}')
    ((key, value),) = body.items()
    if key == "advance" and value in ("next_open", "next_close"):
        target = next_moment(now, "open" if value == "next_open" else "close")
    elif key == "minutes" and isinstance(value, int | float) and value >= 0:
        target = now + timedelta(minutes=value)
    elif key == "to" and isinstance(value, str):
        target = parse_time(value, "to")
    else:
        raise bad_request(f"cannot move the clock with {body}")
    if target < now:
        raise bad_request(f"the clock only moves forward: {target.isoformat()} is before {now.isoformat()}")
    return _local(target).to_pydatetime()
