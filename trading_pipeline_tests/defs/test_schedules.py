"""The daily and intraday schedules evaluated at chosen instants with Dagster's testing API."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dagster import RunRequest, build_schedule_context, instance_for_test

from trading_pipeline.definitions import defs
from trading_pipeline.defs.resources.alpaca_broker import AlpacaBroker
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import SimulatedBroker
from trading_pipeline.defs.resources.journal import JournalResource, default_journal_url
from trading_pipeline.defs.schedules import build_daily_schedule, daily_cycle_schedule, intraday_cycle_schedule
from trading_pipeline.defs.tags import AS_OF_TAG
from trading_pipeline.domain.book import BookState
from trading_pipeline.journal import Journal

NY = ZoneInfo("America/New_York")
REPOSITORY = defs.get_repository_def()  # resolves each request's partition against its job, as the daemon does
RESOURCES = {key: defs.resources[key] for key in ("trading", "broker", "journal")}


_INSTANCE: dict = {}


@pytest.fixture(autouse=True, scope="module")
def _one_instance():
    """The ticks of this module's schedule tests share one throwaway instance (its journal is never written)."""
    with instance_for_test() as instance:
        _INSTANCE["instance"] = instance
        yield
    _INSTANCE.clear()


def evaluate(schedule, *moment: int):
    """The schedule's answer for a tick at ``moment`` (New York wall time), as the daemon would get it."""
    return evaluate_utc(schedule, datetime(*moment, tzinfo=NY).isoformat())


def test_a_normal_session_runs_its_own_partition_at_16_15():
    (request,), _ = evaluate(daily_cycle_schedule, 2012, 11, 26, 16, 15)
    assert isinstance(request, RunRequest)
    assert (request.partition_key, request.run_key) == ("2012-11-26", "daily_cycle:2012-11-26")
    book = RESOURCES["trading"].book  # the run holds the queue's lock named after its book
    assert (request.tags["trading_pipeline/book"], request.tags["trading_pipeline/book_lock"]) == (book, book)


def test_a_holiday_and_a_weekend_launch_nothing():
    requests, reason = evaluate(daily_cycle_schedule, 2012, 11, 22, 16, 15)  # Thanksgiving
    assert requests == [] and "2012-11-22 is not an NYSE session" in reason
    requests, reason = evaluate(daily_cycle_schedule, 2012, 12, 25, 16, 15)  # Christmas
    assert requests == [] and "not an NYSE session" in reason
    assert daily_cycle_schedule.cron_schedule.endswith("* * 1-5")  # no weekend tick at all
    requests, reason = evaluate(daily_cycle_schedule, 2012, 11, 24, 16, 15)  # a Saturday, if evaluated anyway
    assert requests == [] and "not an NYSE session" in reason


@pytest.mark.parametrize("day", [(2012, 11, 23), (2012, 12, 24)])
def test_early_closes_run_at_16_15_when_the_broker_queues_orders_for_the_next_open(day):
    (request,), _ = evaluate(daily_cycle_schedule, *day, 16, 15)
    assert request.partition_key == datetime(*day).date().isoformat()
    assert daily_cycle_schedule.cron_schedule == "15 16 * * 1-5"


def test_repeated_evaluation_gives_the_same_run_key():
    first, _ = evaluate(daily_cycle_schedule, 2012, 11, 26, 16, 15)
    again, _ = evaluate(daily_cycle_schedule, 2012, 11, 26, 16, 15)
    assert [r.run_key for r in first] == [r.run_key for r in again] == ["daily_cycle:2012-11-26"]


def test_the_delay_after_the_close_is_configurable():
    late = build_daily_schedule(minutes_after_close=30)
    assert late.cron_schedule == "30 16 * * 1-5" and late.execution_timezone == "America/New_York"
    (request,), _ = evaluate(late, 2012, 11, 26, 16, 30)
    assert request.partition_key == "2012-11-26"
    with pytest.raises(ValueError, match="minutes_after_close"):
        build_daily_schedule(minutes_after_close=90)


def _intraday_day(*day: int) -> list[RunRequest]:
    """Every 15-minute cron tick of a weekday from 09:00 to 16:45 New York time."""
    start = datetime(*day, 9, 0, tzinfo=NY)
    requests = []
    for i in range(32):
        moment = start + timedelta(minutes=15 * i)
        requests += evaluate(intraday_cycle_schedule, *moment.timetuple()[:5])[0]
    return requests


def test_the_intraday_schedule_ticks_every_15_minutes_in_regular_hours_only():
    requests = _intraday_day(2011, 3, 10)
    assert len(requests) == 26  # 09:45 … 16:00
    assert requests[0].tags[AS_OF_TAG] == "2011-03-10T14:45:00+00:00"
    assert requests[-1].tags[AS_OF_TAG] == "2011-03-10T21:00:00+00:00"
    assert {r.partition_key for r in requests} == {"2011-03-10"} and len({r.run_key for r in requests}) == 26
    requests, reason = evaluate(intraday_cycle_schedule, 2011, 3, 10, 9, 30)  # the open: no bar complete yet
    assert requests == [] and "outside regular hours (09:30-16:00)" in reason


def test_the_intraday_schedule_stops_at_an_early_close_and_skips_holidays():
    requests = _intraday_day(2012, 11, 23)
    assert len(requests) == 14 and requests[-1].tags[AS_OF_TAG] == "2012-11-23T18:00:00+00:00"
    assert _intraday_day(2012, 11, 22) == []


def evaluate_utc(schedule, moment: str):
    """The schedule's answer for a tick at a UTC instant (what the daemon hands it, whatever the clocks say)."""
    tick = datetime.fromisoformat(moment).astimezone(UTC)
    with build_schedule_context(
        scheduled_execution_time=tick, repository_def=REPOSITORY, resources=RESOURCES, instance=_INSTANCE["instance"]
    ) as context:
        data = schedule.evaluate_tick(context)
    return data.run_requests or [], data.skip_message


@pytest.mark.parametrize(
    ("moment", "partition"),
    [
        ("2011-03-11T21:15:00+00:00", "2011-03-11"),  # Friday, EST: 16:15 New York is 21:15 UTC
        ("2011-03-14T20:15:00+00:00", "2011-03-14"),  # Monday after the spring switch, EDT: 20:15 UTC
        ("2012-11-02T20:15:00+00:00", "2012-11-02"),  # Friday, EDT
        ("2012-11-05T21:15:00+00:00", "2012-11-05"),  # Monday after the autumn switch, EST: 21:15 UTC
    ],
)
def test_the_daily_run_follows_the_new_york_close_across_the_daylight_saving_switches(moment, partition):
    (request,), _ = evaluate_utc(daily_cycle_schedule, moment)
    assert request.partition_key == partition
    an_hour_early = (datetime.fromisoformat(moment) - timedelta(hours=1)).isoformat()
    requests, reason = evaluate_utc(daily_cycle_schedule, an_hour_early)  # 15:15 New York: before the close
    assert requests == [] and "daily run is at 16:15" in reason


@pytest.mark.parametrize(
    ("day", "first", "last"),
    [
        ((2011, 3, 11), "2011-03-11T14:45:00+00:00", "2011-03-11T21:00:00+00:00"),  # EST
        ((2011, 3, 14), "2011-03-14T13:45:00+00:00", "2011-03-14T20:00:00+00:00"),  # EDT, the first Monday
    ],
)
def test_the_intraday_ticks_keep_new_york_hours_across_the_spring_switch(day, first, last):
    requests = _intraday_day(*day)
    assert len(requests) == 26
    assert (requests[0].tags[AS_OF_TAG], requests[-1].tags[AS_OF_TAG]) == (first, last)


def _catch_up(instance, last_closed: str | None, broker) -> tuple[list[RunRequest], str | None]:
    """The 2012-11-26 tick for a book whose journal last closed ``last_closed`` (None: a new book)."""
    trading = TradingBook(book="catching-up")
    if last_closed is not None:
        state = BookState.initial(trading.book, 100_000.0)
        journal = Journal(default_journal_url(Path(instance.root_directory)))
        journal.create_schema()
        journal.save_book_states(trading.book, {last_closed: {**state.to_dict(), "last_session": last_closed}}, "r1")
    with build_schedule_context(
        scheduled_execution_time=datetime(2012, 11, 26, 16, 15, tzinfo=NY),
        repository_def=REPOSITORY,
        instance=instance,
        resources={"trading": trading, "broker": broker, "journal": JournalResource()},
    ) as context:
        data = daily_cycle_schedule.evaluate_tick(context)
    return data.run_requests or [], data.skip_message


PAPER = AlpacaBroker(api_key="not-used", secret_key="not-used", trading_url="http://127.0.0.1:9")  # never called


def test_a_real_brokers_missed_sessions_are_launched_first_oldest_first(instance):
    requests, _ = _catch_up(instance, "2012-11-20", PAPER)  # 11-21 and 11-23 were missed (11-22: Thanksgiving)
    assert [(r.partition_key, r.tags["trading_pipeline/trigger"]) for r in requests] == [
        ("2012-11-21", "catch_up"),
        ("2012-11-23", "catch_up"),
        ("2012-11-26", "schedule"),
    ]
    assert [r.run_key for r in requests] == [
        "daily_cycle:2012-11-21",
        "daily_cycle:2012-11-23",
        "daily_cycle:2012-11-26",
    ]


@pytest.mark.parametrize(
    ("last_closed", "broker"),
    [(None, PAPER), ("2012-11-23", PAPER), ("2012-10-01", PAPER), ("2012-11-20", SimulatedBroker())],
)
def test_nothing_is_caught_up_for_a_new_book_an_old_gap_or_a_simulated_book(instance, last_closed, broker):
    requests, _ = _catch_up(instance, last_closed, broker)
    assert [r.partition_key for r in requests] == ["2012-11-26"]
