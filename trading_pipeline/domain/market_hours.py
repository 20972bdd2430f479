"""When an order may leave for the broker: regular hours for intraday orders, the overnight window for the
daily cycle's orders for the next open; a broker clock that disagrees with our calendar is refused, not guessed.

What Alpaca accepts, and when (alpaca-py 0.44 ``alpaca.trading.enums.TimeInForce`` docstring, and
docs.alpaca.markets/docs/orders-at-alpaca, sections "Orders Submitted Outside of Eligible Trading Hours",
"Time in Force" and "Order Handling Standards"):

- ``day``: valid in regular hours, 9:30am-4:00pm ET; "If submitted after the close, it is queued and
  submitted the following trading day", and "Orders not eligible for extended hours submitted after 4:00pm ET
  will be queued up for release the next trading day". Market orders "are protected on the primary exchange
  opening print", subject to each exchange's cutoff (Nasdaq's is 9:28 for market orders).
- ``opg``: executes only in the opening auction; "OPG orders submitted after 9:28am but before 7:00pm ET will
  be rejected", later ones are queued for the following day's auction. The TIF table marks opg market orders
  "contact sales".
- ``cls``: executes only in the closing auction; rejected from 3:50pm to 7:00pm ET, and one queued after
  7:00pm executes at the next session's *close*, not its open.

So the daily cycle, which runs at 16:15 New York, sends market orders queued like ``day`` ones: its entries
go as ``gtc`` brackets (:data:`DAILY_CYCLE_TIME_IN_FORCE`), so that their protective legs keep working after the
entry's session; ``opg`` would be rejected until 19:00 and ``cls`` would fill a whole session late. Their window runs from
16:00 on the session they were decided on (the later of its close and 16:00: Alpaca documents no queueing
between an early 13:00 close and 16:00) to 09:28 of the next session, so they reach the opening auction,
which is the fill the simulator and sizing assumed. That window is the existing ``SessionNotCurrent`` rule
(the decided session is the latest closed one and the market is not open) made exact to the minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from typing import Final, Literal

import pandas as pd

from trading_pipeline.domain import calendar

NEW_YORK = calendar.EXCHANGE_TZ
DAILY_CYCLE_TIME_IN_FORCE: Final[Literal["gtc"]] = "gtc"
QUEUED_FROM = time(16, 0)  # Alpaca queues day orders submitted after 4:00pm ET for the next trading day
AUCTION_CUTOFF = time(9, 28)  # the listing exchanges' cutoff for market orders to join the opening auction
CLOCK_SKEW = pd.Timedelta(seconds=60)  # how far the broker's clock may be from ours before it is not trusted

Instant = datetime | pd.Timestamp


class OrderKind(StrEnum):
    INTRADAY = "intraday"  # exits managed during the day, event-cycle orders: regular hours only
    NEXT_OPEN = "next_open"  # the daily cycle's day orders, queued overnight for the next session's open


@dataclass(frozen=True)
class RegularHours:
    """A session's regular hours, ``opens <= t < closes``, in New York time."""

    session: pd.Timestamp
    opens: pd.Timestamp
    closes: pd.Timestamp

    def __contains__(self, at: Instant) -> bool:
        return self.opens <= _instant(at) < self.closes


@dataclass(frozen=True)
class BrokerClock:
    """The broker's view of the market, as Alpaca's ``GET /v2/clock`` returns it."""

    timestamp: pd.Timestamp
    is_open: bool
    next_open: pd.Timestamp
    next_close: pd.Timestamp

    def __post_init__(self) -> None:
        for name in ("timestamp", "next_open", "next_close"):
            object.__setattr__(self, name, _instant(getattr(self, name), f"broker clock {name}"))


@dataclass(frozen=True)
class Window:
    """Whether an order may leave at an instant, and why in one line.

    Allowed: ``[opens, closes)`` is the window the instant is in. Refused: ``opens`` is the next instant the
    same orders would be allowed, or None if never (too late for them, or a broker clock we cannot trust).
    """

    allowed: bool
    reason: str
    opens: pd.Timestamp | None
    closes: pd.Timestamp | None
    too_late: bool = False  # next-open orders whose opening auction has passed: they may never leave


def regular_hours(session: calendar.DayLike) -> RegularHours:
    """The regular hours of ``session``: 09:30 to 16:00 New York, 13:00 on early closes."""
    day = pd.Timestamp(session).normalize()
    return RegularHours(day, calendar.session_open(day), calendar.session_close(day))


def order_window(
    kind: OrderKind,
    at: Instant,
    broker_clock: BrokerClock | None = None,
    decided_on: calendar.DayLike | None = None,
) -> Window:
    """May an order of ``kind`` leave at ``at``? ``decided_on`` is the session a next-open order was decided on.

    With ``broker_clock``, the broker must agree with our calendar (open or not, next open, next close) and
    its clock be within :data:`CLOCK_SKEW` of ``at``; otherwise the order is refused.
    """
    at = _instant(at)
    kind = OrderKind(kind)
    if kind is OrderKind.NEXT_OPEN and decided_on is None:
        raise ValueError("next-open orders need decided_on, the session they were decided on")
    if kind is OrderKind.INTRADAY and decided_on is not None:
        raise ValueError(f"decided_on ({decided_on}) is for next-open orders, not intraday ones")
    if broker_clock is not None and (disagreement := _clock_disagreement(broker_clock, at)) is not None:
        return Window(False, disagreement, None, None)
    if kind is OrderKind.INTRADAY:
        return _intraday(at)
    return _next_open(pd.Timestamp(decided_on).normalize(), at)


def _intraday(at: pd.Timestamp) -> Window:
    day = _local_day(at)
    if not calendar.is_session(day):
        closed = "a weekend" if day.dayofweek >= 5 else f"not a {calendar.CALENDAR_NAME} session (holiday)"
        opens = _next_open_after(at)
        return Window(False, f"{day.date()} is {closed}; the market next opens {_fmt(opens)}", opens, None)
    hours = regular_hours(day)
    if at in hours:
        return Window(True, f"regular hours of {day.date()} until {_fmt(hours.closes)}", hours.opens, hours.closes)
    opens = _next_open_after(at)
    when = "before the open" if at < hours.opens else "after the close"
    return Window(False, f"{_fmt(at)} is {when} of {day.date()}; the market next opens {_fmt(opens)}", opens, None)


def _next_open(decided_on: pd.Timestamp, at: pd.Timestamp) -> Window:
    closes_at = calendar.session_close(decided_on)  # raises for a day that is not a session
    opens = max(closes_at, _ny(decided_on, QUEUED_FROM))
    nxt = calendar.next_session(decided_on)
    closes = _ny(nxt, AUCTION_CUTOFF)
    if at < opens:
        why = (
            "has not closed"
            if at < closes_at
            else "closed early, and Alpaca documents queueing day orders only after 16:00"
        )
        return Window(False, f"session {decided_on.date()} {why}; its orders may leave from {_fmt(opens)}", opens, None)
    if at >= closes:
        return Window(
            False,
            f"too late: orders decided on {decided_on.date()} had to leave before {_fmt(closes)} "
            f"for the opening auction of {nxt.date()}",
            None,
            None,
            too_late=True,
        )
    return Window(True, f"orders of {decided_on.date()} for the open of {nxt.date()}", opens, closes)


def _clock_disagreement(clock: BrokerClock, at: pd.Timestamp) -> str | None:
    """Why the broker's clock cannot be trusted against our calendar, or None if it agrees."""
    skew = abs(clock.timestamp - at)
    if skew > CLOCK_SKEW:
        return f"broker clock {_fmt(clock.timestamp)} is {skew.total_seconds():.0f} s from ours ({_fmt(at)})"
    t = clock.timestamp
    day = _local_day(t)
    ours = {
        "is_open": calendar.is_session(day) and t in regular_hours(day),
        "next_open": _next_open_after(t),
        "next_close": _next_close_after(t),
    }
    theirs = {"is_open": clock.is_open, "next_open": clock.next_open, "next_close": clock.next_close}
    differ = [f"{k} {_fmt(theirs[k])} vs ours {_fmt(ours[k])}" for k in ours if theirs[k] != ours[k]]
    if differ:
        return f"broker clock disagrees with the {calendar.CALENDAR_NAME} calendar: " + "; ".join(differ)
    return None


def _next_open_after(t: pd.Timestamp) -> pd.Timestamp:
    """The first session open strictly after ``t`` (Alpaca's ``next_open``)."""
    day = _local_day(t)
    if calendar.is_session(day) and t < calendar.session_open(day):
        return calendar.session_open(day)
    return calendar.session_open(calendar.next_session(day))


def _next_close_after(t: pd.Timestamp) -> pd.Timestamp:
    """The first session close strictly after ``t`` (Alpaca's ``next_close``)."""
    day = _local_day(t)
    if calendar.is_session(day) and t < calendar.session_close(day):
        return calendar.session_close(day)
    return calendar.session_close(calendar.next_session(day))


def _instant(at: Instant, what: str = "instant") -> pd.Timestamp:
    ts = pd.Timestamp(at)
    if ts is pd.NaT or ts.tz is None:
        raise ValueError(f"{what} must be a tz-aware time, got {at!r}")
    return ts.tz_convert(NEW_YORK)


def _local_day(t: pd.Timestamp) -> pd.Timestamp:
    """The New York calendar date of ``t`` as a session label."""
    return t.tz_convert(NEW_YORK).normalize().tz_localize(None)


def _ny(day: pd.Timestamp, clock_time: time) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day.date(), clock_time)).tz_localize(NEW_YORK)


def _fmt(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S %Z}" if isinstance(value, pd.Timestamp) else str(value)
