import pandas as pd
import pytest

from trading_pipeline.domain import calendar

HOLIDAYS_2012 = [
    "2012-01-02",  # New Year's Day (observed)
    "2012-01-16",  # Martin Luther King Jr. Day
    "2012-02-20",  # Washington's Birthday
    "2012-04-06",  # Good Friday
    "2012-05-28",  # Memorial Day
    "2012-07-04",  # Independence Day
    "2012-09-03",  # Labor Day
    "2012-10-29",  # Hurricane Sandy
    "2012-10-30",  # Hurricane Sandy
    "2012-11-22",  # Thanksgiving
    "2012-12-25",  # Christmas
]


@pytest.mark.parametrize("day", [*HOLIDAYS_2012, "2012-07-07", "2012-07-08"])
def test_holidays_and_weekends_are_not_sessions(day):
    assert not calendar.is_session(day)


@pytest.mark.parametrize("day", ["2012-07-03", "2012-07-05", "2012-10-31", "2012-11-23", "2000-03-01"])
def test_trading_days_are_sessions(day):
    assert calendar.is_session(day)


def test_sessions_are_inclusive_naive_and_skip_closures():
    got = calendar.sessions("2012-10-26", "2012-11-02")
    assert list(got) == list(pd.to_datetime(["2012-10-26", "2012-10-31", "2012-11-01", "2012-11-02"]))
    assert got.tz is None
    assert (got == got.normalize()).all()


def test_calendar_reaches_back_to_2000():
    assert calendar.sessions("2000-01-01", "2000-01-05")[0] == pd.Timestamp("2000-01-03")


def test_session_count_matches_sp500_file():
    # SOURCES.md: the S&P 500 file spans 1,259 sessions.
    assert len(calendar.sessions("2013-02-08", "2018-02-07")) == 1259


def test_non_session_weekdays_2012():
    assert calendar.non_session_weekdays("2012-01-01", "2012-12-31") == list(pd.to_datetime(HOLIDAYS_2012))


def test_early_close_and_session_close():
    assert pd.Timestamp("2012-11-23") in calendar.early_closes("2012-01-01", "2012-12-31")
    assert calendar.session_close("2012-11-23") == pd.Timestamp("2012-11-23 13:00", tz="America/New_York")
    assert calendar.session_close("2012-11-26") == pd.Timestamp("2012-11-26 16:00", tz="America/New_York")
    assert list(calendar.early_closes("2012-11-01", "2012-11-30")) == [pd.Timestamp("2012-11-23")]


def test_session_open_in_new_york_time_across_a_daylight_saving_switch():
    assert calendar.session_open("2012-03-09") == pd.Timestamp("2012-03-09 14:30", tz="UTC")  # EST
    assert calendar.session_open("2012-03-12") == pd.Timestamp("2012-03-12 13:30", tz="UTC")  # EDT
    assert str(calendar.session_open("2012-03-12").tz) == "America/New_York"
    with pytest.raises(ValueError, match="not a XNYS session"):
        calendar.session_open("2012-07-04")


def test_session_close_of_a_holiday_is_an_error():
    with pytest.raises(ValueError, match="not a XNYS session"):
        calendar.session_close("2012-07-04")


def test_previous_and_next_session_cross_holidays():
    assert calendar.previous_session("2012-07-05") == pd.Timestamp("2012-07-03")
    assert calendar.next_session("2012-07-03") == pd.Timestamp("2012-07-05")
    assert calendar.next_session("2012-10-26") == pd.Timestamp("2012-10-31")
    assert calendar.previous_session("2012-10-30") == pd.Timestamp("2012-10-26")
    assert calendar.next_session("2012-04-06") == pd.Timestamp("2012-04-09")


def test_session_offset_across_holidays():
    assert calendar.session_offset("2012-10-26", 1) == pd.Timestamp("2012-10-31")
    assert calendar.session_offset("2012-10-31", -1) == pd.Timestamp("2012-10-26")
    assert calendar.session_offset("2012-10-31", -3) == pd.Timestamp("2012-10-24")
    assert calendar.session_offset("2012-10-31", 0) == pd.Timestamp("2012-10-31")


def test_backward_offset_from_a_non_session_anchors_on_the_last_session():
    assert calendar.session_offset("2012-10-29", 0) == pd.Timestamp("2012-10-26")
    assert calendar.session_offset("2012-10-29", -1) == pd.Timestamp("2012-10-25")
    assert calendar.session_offset("2012-07-07", -1) == pd.Timestamp("2012-07-05")  # Fri 07-06, Thu 07-05


def test_forward_offset_from_a_non_session_is_an_error():
    with pytest.raises(ValueError, match="forward offsets need a session"):
        calendar.session_offset("2012-07-04", 1)


def test_dates_outside_the_calendar_are_errors():
    with pytest.raises(ValueError, match="outside the XNYS calendar"):
        calendar.is_session("1990-01-02")
    with pytest.raises(ValueError, match="leaves the XNYS calendar"):
        calendar.session_offset("1995-01-03", -1)


def test_reversed_range_and_tz_aware_days_are_errors():
    with pytest.raises(ValueError, match="after end"):
        calendar.sessions("2012-02-01", "2012-01-01")
    with pytest.raises(ValueError, match="tz-naive"):
        calendar.is_session(pd.Timestamp("2012-07-05", tz="UTC"))


def test_the_committed_calendar_file_is_what_exchange_calendars_publishes_over_its_span(tmp_path):
    """The file is the sessions' single source; rewriting it from the installed library changes nothing."""
    rewritten = calendar.write_calendar_file(calendar.horizon(), tmp_path / "calendar.csv")
    assert rewritten.read_text() == calendar.CALENDAR_FILE.read_text()


def test_every_session_of_the_span_opens_at_half_past_nine_as_the_library_says():
    """session_open assumes 09:30 (the file keeps no late opens): true of every session the file covers."""
    import exchange_calendars as xcals

    library = xcals.get_calendar("XNYS", start=calendar.CALENDAR_START)
    opens = library.schedule.loc[: calendar.horizon(), "open"].dt.tz_convert(calendar.EXCHANGE_TZ)
    assert set(opens.dt.strftime("%H:%M")) == {"09:30"}
    assert calendar.session_open("2026-11-27") == pd.Timestamp("2026-11-27 09:30", tz=calendar.EXCHANGE_TZ)


def test_sessions_early_closes_and_the_horizon_come_from_the_file():
    table = pd.read_csv(calendar.CALENDAR_FILE, keep_default_na=False)
    closed = set(table.loc[table["kind"] == "closed", "date"])
    horizon = table.loc[table["kind"] == "horizon", "date"].item()
    weekdays = {d.strftime("%Y-%m-%d") for d in pd.bdate_range("1995-01-03", horizon)}
    sessions = {d.strftime("%Y-%m-%d") for d in calendar.sessions("1995-01-03", horizon)}
    assert sessions == weekdays - closed
    assert calendar.last_known_session() <= calendar.horizon() == pd.Timestamp(horizon)
    early = table[table["kind"] == "early_close"]
    assert [str(calendar.session_close(d).time()) for d in early["date"]] == [f"{c}:00" for c in early["close"]]
    with pytest.raises(ValueError, match="outside the XNYS calendar"):
        calendar.is_session(calendar.horizon() + pd.Timedelta(days=1))


def test_extending_past_what_the_library_publishes_is_refused(tmp_path):
    with pytest.raises(ValueError, match="publishes sessions up to"):
        calendar.write_calendar_file("2100-01-01", tmp_path / "calendar.csv")
