from datetime import UTC, datetime

import pandas as pd
import pytest

from trading_pipeline.domain.market_hours import BrokerClock, OrderKind, order_window, regular_hours

INTRADAY, NEXT_OPEN = OrderKind.INTRADAY, OrderKind.NEXT_OPEN


def ny(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="America/New_York")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# --- regular hours -------------------------------------------------------------------------------------------


def test_regular_hours_in_utc_around_the_daylight_saving_switches():
    # 2026-03-08 clocks go forward (EDT, UTC-4); 2026-11-01 they go back (EST, UTC-5).
    before_spring = regular_hours("2026-03-06")
    assert (before_spring.opens, before_spring.closes) == (utc("2026-03-06 14:30"), utc("2026-03-06 21:00"))
    spring = regular_hours("2026-03-09")
    assert (spring.opens, spring.closes) == (utc("2026-03-09 13:30"), utc("2026-03-09 20:00"))
    autumn = regular_hours("2026-11-02")
    assert (autumn.opens, autumn.closes) == (utc("2026-11-02 14:30"), utc("2026-11-02 21:00"))


def test_regular_hours_of_an_early_close_and_a_holiday():
    day_after_thanksgiving = regular_hours("2026-11-27")
    assert day_after_thanksgiving.closes == ny("2026-11-27 13:00")
    with pytest.raises(ValueError, match="not a XNYS session"):
        regular_hours("2026-11-26")  # Thanksgiving


def test_regular_hours_contain_the_open_not_the_close():
    hours = regular_hours("2026-06-10")
    assert ny("2026-06-10 09:30") in hours
    assert ny("2026-06-10 15:59:59") in hours
    assert ny("2026-06-10 16:00") not in hours


# --- intraday orders -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "allowed", "opens", "closes"),
    [
        (ny("2026-06-10 09:29"), False, ny("2026-06-10 09:30"), None),
        (ny("2026-06-10 09:30"), True, ny("2026-06-10 09:30"), ny("2026-06-10 16:00")),
        (ny("2026-06-10 15:59"), True, ny("2026-06-10 09:30"), ny("2026-06-10 16:00")),
        (ny("2026-06-10 16:01"), False, ny("2026-06-11 09:30"), None),
    ],
)
def test_intraday_on_a_normal_day(at, allowed, opens, closes):
    window = order_window(INTRADAY, at)
    assert (window.allowed, window.opens, window.closes) == (allowed, opens, closes)


def test_intraday_on_an_early_close():
    before = order_window(INTRADAY, ny("2026-11-27 12:59"))
    assert before.allowed and before.closes == ny("2026-11-27 13:00")
    after = order_window(INTRADAY, ny("2026-11-27 13:01"))
    assert not after.allowed
    assert after.opens == ny("2026-11-30 09:30")  # the Monday after
    assert "after the close" in after.reason


def test_intraday_on_a_holiday_and_a_weekend():
    thanksgiving = order_window(INTRADAY, ny("2026-11-26 11:00"))
    assert not thanksgiving.allowed and "holiday" in thanksgiving.reason
    assert thanksgiving.opens == ny("2026-11-27 09:30")
    saturday = order_window(INTRADAY, ny("2026-06-13 11:00"))
    assert not saturday.allowed and "weekend" in saturday.reason
    assert saturday.opens == ny("2026-06-15 09:30")


@pytest.mark.parametrize(
    ("at", "allowed", "opens"),
    [
        (utc("2026-03-09 13:29"), False, utc("2026-03-09 13:30")),  # 09:29 EDT
        (utc("2026-03-09 13:30"), True, utc("2026-03-09 13:30")),
        (utc("2026-03-09 19:59"), True, utc("2026-03-09 13:30")),
        (utc("2026-03-09 20:00"), False, utc("2026-03-10 13:30")),  # 16:00 EDT
        (utc("2026-03-06 21:30"), False, utc("2026-03-09 13:30")),  # Friday 16:30 EST to Monday 09:30 EDT
        (utc("2026-11-02 14:29"), False, utc("2026-11-02 14:30")),  # 09:29 EST
        (utc("2026-11-02 14:30"), True, utc("2026-11-02 14:30")),
        (utc("2026-11-02 20:59"), True, utc("2026-11-02 14:30")),
        (utc("2026-10-30 20:30"), False, utc("2026-11-02 14:30")),  # Friday 16:30 EDT to Monday 09:30 EST
    ],
)
def test_intraday_across_the_daylight_saving_switches(at, allowed, opens):
    window = order_window(INTRADAY, at)
    assert (window.allowed, window.opens) == (allowed, opens)


def test_an_evening_utc_instant_is_judged_by_its_new_york_date():
    # 2026-06-11 01:00 UTC is 21:00 on the 10th in New York: after that day's close, not before the 11th's open.
    window = order_window(INTRADAY, utc("2026-06-11 01:00"))
    assert not window.allowed and "after the close of 2026-06-10" in window.reason
    assert window.opens == ny("2026-06-11 09:30")


# --- the daily cycle's orders for the next open --------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "allowed", "opens"),
    [
        (ny("2026-06-10 15:59"), False, ny("2026-06-10 16:00")),  # session not closed yet
        (ny("2026-06-10 16:00"), True, ny("2026-06-10 16:00")),
        (ny("2026-06-10 16:15"), True, ny("2026-06-10 16:00")),  # when the daily cycle runs
        (ny("2026-06-11 03:00"), True, ny("2026-06-10 16:00")),
        (ny("2026-06-11 09:27"), True, ny("2026-06-10 16:00")),
        (ny("2026-06-11 09:28"), False, None),  # the auction cutoff: never again for these orders
        (ny("2026-06-11 16:15"), False, None),  # decided on a session that is no longer the latest closed
    ],
)
def test_next_open_orders_leave_between_the_close_and_the_auction_cutoff(at, allowed, opens):
    window = order_window(NEXT_OPEN, at, decided_on="2026-06-10")
    assert (window.allowed, window.opens) == (allowed, opens)
    if allowed:
        assert window.closes == ny("2026-06-11 09:28")


def test_next_open_too_late_says_why():
    window = order_window(NEXT_OPEN, ny("2026-06-11 09:45"), decided_on="2026-06-10")
    assert "too late" in window.reason and "2026-06-11" in window.reason


def test_next_open_over_a_weekend_and_a_daylight_saving_switch():
    friday = order_window(NEXT_OPEN, utc("2026-03-06 21:15"), decided_on="2026-03-06")  # 16:15 EST
    assert friday.allowed and friday.closes == utc("2026-03-09 13:28")  # Monday 09:28 EDT
    assert order_window(NEXT_OPEN, ny("2026-03-07 12:00"), decided_on="2026-03-06").allowed  # Saturday
    autumn = order_window(NEXT_OPEN, utc("2026-10-30 20:15"), decided_on="2026-10-30")  # 16:15 EDT
    assert autumn.allowed and autumn.closes == utc("2026-11-02 14:28")  # Monday 09:28 EST


def test_next_open_over_a_holiday():
    window = order_window(NEXT_OPEN, ny("2026-11-26 12:00"), decided_on="2026-11-25")  # on Thanksgiving
    assert window.allowed and window.closes == ny("2026-11-27 09:28")


def test_next_open_after_an_early_close_waits_for_16():
    early = order_window(NEXT_OPEN, ny("2026-11-27 13:30"), decided_on="2026-11-27")
    assert not early.allowed and "closed early" in early.reason
    assert early.opens == ny("2026-11-27 16:00")
    cycle = order_window(NEXT_OPEN, ny("2026-11-27 16:15"), decided_on="2026-11-27")
    assert cycle.allowed and cycle.closes == ny("2026-11-30 09:28")


def test_next_open_needs_a_session_to_have_decided_on():
    with pytest.raises(ValueError, match="need decided_on"):
        order_window(NEXT_OPEN, ny("2026-06-10 16:15"))
    with pytest.raises(ValueError, match="not a XNYS session"):
        order_window(NEXT_OPEN, ny("2026-11-26 16:15"), decided_on="2026-11-26")
    with pytest.raises(ValueError, match="not intraday"):
        order_window(INTRADAY, ny("2026-06-10 10:00"), decided_on="2026-06-10")


def test_an_instant_must_be_tz_aware():
    with pytest.raises(ValueError, match="tz-aware"):
        order_window(INTRADAY, pd.Timestamp("2026-06-10 10:00"))


# --- the broker's clock --------------------------------------------------------------------------------------


def clock(at, is_open, next_open, next_close) -> BrokerClock:
    return BrokerClock(timestamp=at, is_open=is_open, next_open=next_open, next_close=next_close)


def test_a_broker_clock_that_agrees_lets_orders_through():
    during = clock(ny("2026-06-10 10:00"), True, ny("2026-06-11 09:30"), ny("2026-06-10 16:00"))
    assert order_window(INTRADAY, ny("2026-06-10 10:00:02"), broker_clock=during).allowed
    evening = clock(ny("2026-06-10 16:15"), False, ny("2026-06-11 09:30"), ny("2026-06-11 16:00"))
    assert order_window(NEXT_OPEN, ny("2026-06-10 16:15"), broker_clock=evening, decided_on="2026-06-10").allowed


def test_a_broker_clock_in_utc_datetimes_is_read_as_the_same_instants():
    evening = BrokerClock(
        timestamp=datetime(2026, 6, 10, 20, 15, tzinfo=UTC),
        is_open=False,
        next_open=datetime(2026, 6, 11, 13, 30, tzinfo=UTC),
        next_close=datetime(2026, 6, 11, 20, 0, tzinfo=UTC),
    )
    assert order_window(NEXT_OPEN, ny("2026-06-10 16:15"), broker_clock=evening, decided_on="2026-06-10").allowed


def test_a_broker_that_says_closed_during_our_regular_hours_is_refused():
    # an unscheduled closure the calendar does not know: refuse rather than trade on our calendar
    closed = clock(ny("2026-06-10 10:00"), False, ny("2026-06-11 09:30"), ny("2026-06-11 16:00"))
    window = order_window(INTRADAY, ny("2026-06-10 10:00"), broker_clock=closed)
    assert not window.allowed and window.opens is None
    assert "disagrees" in window.reason and "is_open" in window.reason


def test_a_broker_that_expects_another_next_open_is_refused():
    # the broker thinks Thanksgiving is a session: the orders might not go to the open we decided them for
    wrong = clock(ny("2026-11-25 16:15"), False, ny("2026-11-26 09:30"), ny("2026-11-26 16:00"))
    window = order_window(NEXT_OPEN, ny("2026-11-25 16:15"), broker_clock=wrong, decided_on="2026-11-25")
    assert not window.allowed and window.opens is None
    assert "next_open" in window.reason and "next_close" in window.reason


def test_a_broker_that_misses_an_early_close_is_refused():
    wrong = clock(ny("2026-11-27 10:00"), True, ny("2026-11-30 09:30"), ny("2026-11-27 16:00"))
    window = order_window(INTRADAY, ny("2026-11-27 10:00"), broker_clock=wrong)
    assert not window.allowed and "next_close" in window.reason and "is_open" not in window.reason


def test_a_broker_clock_far_from_ours_is_refused():
    late = clock(ny("2026-06-10 10:05"), True, ny("2026-06-11 09:30"), ny("2026-06-10 16:00"))
    window = order_window(INTRADAY, ny("2026-06-10 10:00"), broker_clock=late)
    assert not window.allowed and "300 s" in window.reason


def test_a_broker_clock_must_be_tz_aware():
    with pytest.raises(ValueError, match="broker clock timestamp"):
        clock(pd.Timestamp("2026-06-10 10:00"), True, ny("2026-06-11 09:30"), ny("2026-06-10 16:00"))
