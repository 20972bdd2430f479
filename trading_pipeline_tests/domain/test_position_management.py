"""Hand-built bars through the protective exits: stop, trailing stop, take-profit, time stop, gaps."""

from dataclasses import replace
from datetime import date

import pytest

from trading_pipeline.domain.book import BookState, Position
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.simulator import close_session, manage_positions, open_session
from trading_pipeline_tests.domain.test_simulator import book_with, order

D0, D1, D2, D3 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)
COSTS = CostModel()
SELL = 1 - COSTS.slippage_rate


def position(**overrides) -> Position:
    fields = {
        "symbol": "AAA",
        "qty": 100.0,
        "avg_price": 50.0,
        "last_price": 50.0,
        "entry_session": D0,
        "stop": 45.0,
        "high_water": 50.0,
    }
    return Position(**{**fields, **overrides})


def bar(book: BookState, session: date, o: float, h: float, lo: float):
    return manage_positions(book, session, {"AAA": o}, {"AAA": h}, {"AAA": lo}, COSTS)


def test_gap_through_the_stop_fills_at_the_open_not_at_the_stop():
    book = book_with(0.0, {"AAA": position()})
    after, (fill,), (exit_order,) = bar(book, D1, 40.0, 41.0, 39.0)
    assert fill.price == pytest.approx(40.0 * SELL)  # the open, below the 45 stop
    assert fill.slippage == pytest.approx(100 * 40.0 * COSTS.slippage_rate)
    assert (exit_order.order_type, exit_order.ref_price, exit_order.stop_price) == ("stop", 40.0, 45.0)
    assert exit_order.reason.startswith("stop_loss at 45")
    assert after.positions == {} and after.cash == pytest.approx(fill.qty * fill.price - fill.commission)
    assert after.losing_streak == 1


def test_stop_touched_inside_the_bar_fills_at_the_stop_less_slippage():
    book = book_with(0.0, {"AAA": position()})
    _, (fill,), _ = bar(book, D1, 48.0, 49.0, 44.0)
    assert fill.price == pytest.approx(45.0 * SELL)
    untouched, fills, exits = bar(book, D1, 48.0, 49.0, 45.01)
    assert fills == [] and exits == [] and untouched is book


def test_take_profit_gap_fills_at_the_better_open_and_touch_at_the_target():
    book = book_with(0.0, {"AAA": position(target=55.0)})
    _, (gap,), (gap_order,) = bar(book, D1, 57.0, 58.0, 56.0)
    assert gap.price == pytest.approx(57.0 * SELL) and gap_order.order_type == "limit"
    after, (touch,), _ = bar(book, D1, 52.0, 56.0, 51.0)
    assert touch.price == 55.0  # a limit order fills at its limit or better: slippage never takes it below
    assert after.losing_streak == 0  # a winning round trip
    _, (thin,), _ = bar(book, D1, 55.01, 55.01, 55.0)  # the open is above the target by less than the slippage
    assert thin.price == 55.0


def test_slippage_never_takes_a_fill_outside_the_sessions_range():
    book = book_with(0.0, {"AAA": position()})  # stop 45
    _, (stop,), _ = bar(book, D1, 46.0, 47.0, 45.0)  # the low touches the stop exactly
    assert stop.price == 45.0  # 45 less slippage was never traded that day
    book = book_with(10_000.0, pending=(order("BBB", "buy", 10.0),))
    _, (buy,), _ = open_session(book, D1, {"BBB": 50.0}, COSTS, {"BBB": 50.0}, {"BBB": 49.0})
    assert buy.price == 50.0 and buy.slippage == 0.0  # the open was the day's high


def test_a_bar_touching_stop_and_target_is_read_as_the_stop():
    book = book_with(0.0, {"AAA": position(target=55.0)})
    _, (fill,), (exit_order,) = bar(book, D1, 50.0, 56.0, 44.0)
    assert fill.price == pytest.approx(45.0 * SELL) and exit_order.order_type == "stop"


def test_trailing_stop_ratchets_with_the_high_and_only_from_the_next_session():
    book = book_with(0.0, {"AAA": position(trail_distance=3.0)})  # trail 50 − 3 = 47 > fixed 45
    assert book.positions["AAA"].protective_stop() == (47.0, "trailing_stop")
    # session 1: high 60 lifts the high-water mark at the close; its own low 46.5 hits the old 47 level
    _, (fill,), _ = bar(book, D1, 55.0, 60.0, 46.5)
    assert fill.price == pytest.approx(47.0 * SELL)
    # without the touch, the close lifts the trail to 57 for the next session
    kept, fills, _ = bar(book, D1, 55.0, 60.0, 48.0)
    marked = close_session(kept, D1, {"AAA": 58.0}, {"AAA": 60.0})
    assert fills == [] and marked.positions["AAA"].high_water == 60.0
    assert marked.positions["AAA"].protective_stop() == (57.0, "trailing_stop")
    _, (fill,), (exit_order,) = bar(marked, D2, 58.0, 58.5, 56.0)
    assert fill.price == pytest.approx(57.0 * SELL) and exit_order.reason.startswith("trailing_stop")


def test_percent_trailing_stop():
    p = position(trail_pct=0.10, high_water=60.0)
    assert p.protective_stop() == (pytest.approx(54.0), "trailing_stop")
    assert position(trail_pct=0.10, high_water=49.0).protective_stop() == (45.0, "stop_loss")


def test_time_stop_sells_at_the_open_after_the_holding_period():
    book = book_with(0.0, {"AAA": position(stop=None, max_holding_sessions=2, sessions_held=1)})
    unchanged, fills, _ = bar(book, D1, 50.0, 51.0, 49.0)
    assert fills == []
    held_two = close_session(unchanged, D1, {"AAA": 50.5})
    assert held_two.positions["AAA"].sessions_held == 2
    _, (fill,), (exit_order,) = bar(held_two, D2, 51.0, 52.0, 50.0)
    assert fill.price == pytest.approx(51.0 * SELL)
    assert (exit_order.order_type, exit_order.reason.split(",")[0]) == ("market", "time_stop")


def test_a_position_bought_at_this_open_is_not_exited_on_its_first_bar():
    book = book_with(100_000.0, pending=(order("AAA", "buy", 100, ref=50.0),))  # stop 45
    opened, _, _ = open_session(book, D1, {"AAA": 49.0}, COSTS)
    assert opened.positions["AAA"].high_water == 49.0
    same_day, fills, _ = bar(opened, D1, 49.0, 50.0, 44.0)
    assert fills == [] and "AAA" in same_day.positions
    marked = close_session(same_day, D1, {"AAA": 46.0}, {"AAA": 50.0})
    _, (fill,), _ = bar(marked, D2, 44.0, 45.0, 43.0)  # next session gaps below the stop
    assert fill.price == pytest.approx(44.0 * SELL)


def test_a_buy_whose_open_gapped_below_its_stop_is_cancelled():
    book = book_with(100_000.0, pending=(order("AAA", "buy", 100, ref=50.0),))
    after, fills, (event,) = open_session(book, D1, {"AAA": 44.0}, COSTS)
    assert fills == [] and after.positions == {}
    assert (event.rule, event.action, event.value, event.limit) == ("gap_through_stop", "cancelled", 44.0, 45.0)


def test_no_tradable_bar_means_no_exit():
    book = book_with(0.0, {"AAA": position()})
    after, fills, _ = manage_positions(book, D1, {"AAA": float("nan")}, {}, {}, COSTS)
    assert fills == [] and after is book


def test_losing_streak_counts_consecutive_losing_round_trips_and_a_win_resets_it():
    book = replace(book_with(0.0, {"AAA": position()}), losing_streak=4)
    lost, _, _ = bar(book, D1, 40.0, 41.0, 39.0)
    assert lost.losing_streak == 5
    won, _, _ = bar(replace(book, positions={"AAA": position(target=52.0)}, equity=5_000.0), D1, 53.0, 54.0, 52.5)
    assert won.losing_streak == 0


def test_open_sets_the_day_start_equity_to_the_previous_close():
    book = book_with(1_000.0, {"AAA": position()})
    opened, _, _ = open_session(book, D1, {"AAA": 40.0}, COSTS)
    assert opened.day_start_equity == book.equity == 6_000.0
