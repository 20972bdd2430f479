"""One intraday replay day end to end: every 15-minute tick of 2011-03-10 launched as the schedule asks,
through the real intraday job with the default resources (bundled SPY minute bars, simulated broker)."""

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from dagster import build_schedule_context, build_sensor_context, instance_for_test, materialize

from trading_pipeline.definitions import DEFAULT_RESOURCES, defs
from trading_pipeline.defs.intraday.assets import INTRADAY_ASSETS, TRADING_POOL
from trading_pipeline.defs.resources.alpaca_broker import AlpacaBroker
from trading_pipeline.defs.resources.intraday_data import AlpacaIntradayData, ReplayIntradayData
from trading_pipeline.defs.resources.journal import default_journal_url
from trading_pipeline.defs.resources.market_data import AlpacaMarketData
from trading_pipeline.defs.schedules import intraday_cycle_schedule
from trading_pipeline.defs.sensors import build_price_move_sensor
from trading_pipeline.defs.tags import BOOK_LOCK_TAG
from trading_pipeline.domain.book import BookState, Position
from trading_pipeline.domain.intraday import tick_times
from trading_pipeline.instance import concurrency_config
from trading_pipeline.journal import Journal
from trading_pipeline.sandbox.alpaca_server import SECRET_KEY, AlpacaSandbox
from trading_pipeline_tests.fakes.alpaca_fixtures import fresh_key

NY = ZoneInfo("America/New_York")
SESSION = date(2011, 3, 10)
BOOK = DEFAULT_RESOURCES["trading"].book


def seed_book(instance, stop: float) -> Journal:
    """The book as the daily cycle left it after 2011-03-09: 100 SPY bought on 03-08, a stop at ``stop``."""
    journal = Journal(default_journal_url(Path(instance.root_directory)))
    journal.create_schema()
    spy = Position(
        symbol="SPY", qty=100.0, avg_price=131.0, last_price=132.39, entry_session=date(2011, 3, 8), stop=stop
    )
    cash = 50_000.0
    equity = cash + 100 * 132.39
    state = BookState(
        book=BOOK,
        cash=cash,
        positions={"SPY": spy},
        pending=(),
        peak_equity=equity,
        last_session=date(2011, 3, 9),
        equity=equity,
    )
    journal.save_book_states(BOOK, {date(2011, 3, 9): state.to_dict()}, run_id="seed")
    return journal


def materialization(result, key: str):
    """The step's materialization of ``key`` (a range run records one per partition, with the same metadata)."""
    events = [m for m in result.get_asset_materialization_events() if m.asset_key.to_user_string() == key]
    assert len({e.partition for e in events}) == len(events) >= 1
    return events[0].materialization


def scheduled_requests():
    repository = defs.get_repository_def()
    requests = []
    for tick in tick_times(SESSION):
        context = build_schedule_context(
            scheduled_execution_time=tick.tz_convert(NY).to_pydatetime(),
            repository_def=repository,
            resources={"trading": DEFAULT_RESOURCES["trading"]},
        )
        requests += intraday_cycle_schedule.evaluate_tick(context).run_requests
    return requests


def test_a_replayed_day_stops_out_spy_once_at_its_stop(instance):
    journal = seed_book(instance, stop=130.0)
    job = defs.get_job_def("intraday_cycle")
    requests = scheduled_requests()
    assert len(requests) == 26
    # Four of the 26 ticks keep the test short (~2 s a run on this machine): the two before the stop, the
    # one that reaches it, and the close, which replays the whole day again.
    exits_per_tick = []
    for request in [*requests[:3], requests[-1]]:
        result = job.execute_in_process(instance=instance, partition_key=request.partition_key, tags=request.tags)
        assert result.success
        exits_per_tick.append(materialization(result, "intraday_positions").metadata["exits"].value)
    # The 10:15 bar (low 129.90) is the first to reach the 130.00 stop; every later tick recomputes that exit.
    assert exits_per_tick == [0, 0, 1, 1]
    orders, fills = journal.read("orders", book=BOOK), journal.read("fills", book=BOOK)
    assert len(orders) == 1 and len(fills) == 1
    assert orders.loc[0, ["symbol", "side", "order_type", "status"]].tolist() == ["SPY", "sell", "stop", "filled"]
    assert fills.loc[0, "qty"] == 100.0 and fills.loc[0, "price"] == pytest.approx(130.0 * (1 - 5e-4))
    assert fills.loc[0, "session"].date() == SESSION
    events = journal.read("risk_events", book=BOOK)
    (message,) = events[events["source"] == "intraday"]["message"]
    assert "stop_loss at 130.0000" in message and "2011-03-10T15:15:00+00:00" in message
    # The run's tags say when it acted; its bars stop there.
    last = instance.get_run_by_id(result.run_id)
    assert last.tags["trading_pipeline/as_of"] == "2011-03-10T21:00:00+00:00" and last.tags[BOOK_LOCK_TAG] == BOOK


def test_with_a_real_broker_the_triggers_are_recorded_and_the_exits_left_to_its_orders(instance):
    journal = seed_book(instance, stop=130.0)
    with AlpacaSandbox() as server:
        broker = AlpacaBroker(api_key=fresh_key(), secret_key=SECRET_KEY, trading_url=server.url)
        result = materialize(
            INTRADAY_ASSETS,
            instance=instance,
            partition_key="2011-03-10",
            resources={**DEFAULT_RESOURCES, "broker": broker},
            tags={"trading_pipeline/as_of": "2011-03-10T21:00:00+00:00"},
        )
        assert server.count("POST", "/v2/orders") == 0  # the intraday cycle sends nothing itself
    assert result.success and materialization(result, "intraday_positions").metadata["exits"].value == 1
    assert journal.read("fills", book=BOOK).empty and journal.read("orders", book=BOOK).empty
    (message,) = journal.read("risk_events", book=BOOK)["message"]
    assert message.endswith("(left to the broker's orders)")


def test_a_session_the_daily_cycle_closed_is_left_alone(instance):
    journal = seed_book(instance, stop=130.0)
    closed = journal.load_book_state(BOOK, before=date(2011, 3, 10))[1]
    journal.save_book_states(BOOK, {SESSION: {**closed, "last_session": SESSION.isoformat()}}, run_id="daily")
    result = defs.get_job_def("intraday_cycle").execute_in_process(
        instance=instance, partition_key="2011-03-10", tags={"trading_pipeline/as_of": "2011-03-10T21:00:00+00:00"}
    )
    metadata = materialization(result, "intraday_positions").metadata
    assert metadata["sessions_already_closed"].value == "2011-03-10" and metadata["sessions_managed"].value == 0
    assert journal.read("fills", book=BOOK).empty


def test_a_backfill_replays_each_session_to_its_close_in_one_run(instance):
    """A range (single-run backfill) replays every session's bars from the book the daily cycle left before it."""
    journal = seed_book(instance, stop=130.0)
    result = defs.get_job_def("intraday_cycle").execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": "2011-03-09", "dagster/asset_partition_range_end": "2011-03-11"},
    )
    bars, positions = materialization(result, "intraday_bars"), materialization(result, "intraday_positions")
    assert bars.metadata["bars"].value == 3 * 26
    # 03-09 is closed (the seeded daily state), 03-10 stops out, 03-11 waits for the daily close of 03-10.
    assert positions.metadata["sessions_managed"].value == 1 and positions.metadata["exits"].value == 1
    assert positions.metadata["sessions_already_closed"].value == "2011-03-09"
    assert positions.metadata["sessions_waiting_for_daily_close"].value == "2011-03-11"
    assert journal.read("fills", book=BOOK)["session"].dt.date.tolist() == [SESSION]


def test_an_as_of_outside_the_partition_is_refused(instance):
    seed_book(instance, stop=130.0)
    result = defs.get_job_def("intraday_cycle").execute_in_process(
        instance=instance,
        partition_key="2011-03-10",
        tags={"trading_pipeline/as_of": "2011-03-11T15:00:00+00:00"},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "is not in session 2011-03-10" in failure.step_failure_data.error.cause.message


def test_a_price_move_launches_an_event_cycle_that_manages_the_book_and_carries_the_move(instance):
    journal = seed_book(instance, stop=130.0)
    sensor = build_price_move_sensor(threshold=0.015)
    context = build_sensor_context(
        resources={
            "intraday_data": ReplayIntradayData(replay_now="2011-03-10T15:30:00+00:00"),
            "trading": DEFAULT_RESOURCES["trading"],
        },
        repository_def=defs.get_repository_def(),
    )
    (request,) = sensor.evaluate_tick(context).run_requests
    result = defs.get_job_def("event_cycle").execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags
    )
    assert result.success
    run = instance.get_run_by_id(result.run_id)
    assert (run.tags["trading_pipeline/symbol"], run.tags["trading_pipeline/move"]) == ("SPY", "-1.65%")
    assert journal.read("fills", book=BOOK)["symbol"].tolist() == ["SPY"]


def test_every_trading_cycle_shares_one_lock_per_book():
    """Run-level: every trading job carries the book-lock tag, its value the book; step-level: every intraday step
    is in the pool."""
    for name in ("daily_cycle", "intraday_cycle", "event_cycle"):
        assert defs.get_job_def(name).tags[BOOK_LOCK_TAG] == BOOK
    assert {a.op.pool for a in INTRADAY_ASSETS} == {TRADING_POOL}


def test_the_instance_setting_limits_trading_runs_to_one_per_book_lock(tmp_path):
    """The concurrency block trading_pipeline.instance writes into dagster.yaml names the jobs' lock tag, limit 1."""
    with instance_for_test(temp_dir=str(tmp_path), overrides={"concurrency": concurrency_config()}) as instance:
        config = instance.get_concurrency_config()
        locks = [limit for limit in config.run_queue_config.tag_concurrency_limits if limit["key"] == BOOK_LOCK_TAG]
        assert locks == [{"key": BOOK_LOCK_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
        assert config.pool_config.default_pool_limit == 1  # the trading_book pool has no limit of its own


def test_alpaca_minute_bars_give_the_same_15_minute_bars_as_the_replay():
    """Alpaca labels bars by their start; the provider shifts them to bar ends, so both providers agree."""
    replay = ReplayIntradayData()
    as_of = pd.Timestamp("2011-03-10T17:00:00+00:00").to_pydatetime()
    minutes = replay.minute_bars(pd.Timestamp("2011-03-10T09:00:00+00:00").to_pydatetime(), as_of)
    with AlpacaSandbox() as server:
        server.intraday = minutes.assign(timestamp=minutes["bar_end"] - pd.Timedelta(minutes=1))
        alpaca = AlpacaIntradayData(
            market_data=AlpacaMarketData(
                api_key=fresh_key(), secret_key=SECRET_KEY, data_url=server.url, symbols=["SPY"]
            )
        )
        served = alpaca.session_bars(SESSION, as_of)
        (_, _, query, _) = server.requests[-1]
    expected = replay.session_bars(SESSION, as_of)
    assert len(served) == 10 and query["timeframe"] == "1Min"
    pd.testing.assert_frame_equal(served.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False)
