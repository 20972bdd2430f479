"""Intraday rules: regular hours (early closes included), 15-minute resampling, exits on 15-minute bars, price moves."""

from datetime import date

import pandas as pd
import pytest

from trading_pipeline.defs.resources.intraday_data import SAMPLE_MINUTE_BARS, _load_minute_file
from trading_pipeline.domain import intraday as I
from trading_pipeline.domain.book import BookState, Position
from trading_pipeline.domain.costs import CostModel

NO_COSTS = CostModel(commission_per_share=0.0, min_commission=0.0, slippage_bps=0.0)
D_PREV, D = date(2011, 3, 9), date(2011, 3, 10)


def minute(symbol: str, end: str, o: float, h: float, lo: float, c: float, v: float = 100.0) -> dict:
    return {
        "symbol": symbol,
        "bar_end": pd.Timestamp(end, tz="America/New_York").tz_convert("UTC"),
        "open": o,
        "high": h,
        "low": lo,
        "close": c,
        "volume": v,
    }


def frame(*rows: dict) -> pd.DataFrame:
    return I.validate_minute_bars(pd.DataFrame(list(rows)))


def test_session_hours_honour_early_closes():
    opening, close = I.session_hours(date(2012, 11, 23))  # day after Thanksgiving: 13:00 close
    assert (
        opening.tz_convert("America/New_York").strftime("%H:%M"),
        close.tz_convert("America/New_York").strftime("%H:%M"),
    ) == ("09:30", "13:00")
    assert len(I.tick_times(date(2012, 11, 23))) == 14 and len(I.tick_times(date(2012, 11, 26))) == 26
    with pytest.raises(ValueError, match="not a XNYS session"):
        I.session_hours(date(2012, 11, 22))


def test_regular_hours_keep_bar_ends_after_the_open_up_to_the_close():
    bars = frame(
        minute("SPY", "2012-11-23 09:30", 10, 10, 10, 10),  # pre-open minute (ends at the open)
        minute("SPY", "2012-11-23 09:31", 10, 11, 9, 10.5),
        minute("SPY", "2012-11-23 13:00", 10, 10, 10, 10),  # last minute of the early close
        minute("SPY", "2012-11-23 13:01", 10, 10, 10, 10),  # after the early close
    )
    kept = I.regular_hours(bars, date(2012, 11, 23))
    assert [t.tz_convert("America/New_York").strftime("%H:%M") for t in kept["bar_end"]] == ["09:31", "13:00"]


def test_resampling_to_15_minutes_aggregates_ohlcv_by_bar_end():
    bars = frame(
        minute("SPY", "2011-03-10 09:31", 10.0, 10.5, 9.8, 10.2, 100),
        minute("SPY", "2011-03-10 09:40", 10.2, 11.0, 10.1, 10.9, 200),
        minute("SPY", "2011-03-10 09:45", 10.9, 10.9, 10.4, 10.5, 300),
        minute("SPY", "2011-03-10 09:46", 10.5, 10.6, 10.0, 10.1, 50),
        minute("QQQ", "2011-03-10 09:33", 50.0, 50.0, 49.0, 49.5, 10),
    )
    out = I.resample(bars, D)
    spy = out[out["symbol"] == "SPY"].reset_index(drop=True)
    assert [t.tz_convert("America/New_York").strftime("%H:%M") for t in spy["bar_end"]] == ["09:45", "10:00"]
    assert spy.loc[0, ["open", "high", "low", "close", "volume"]].tolist() == [10.0, 11.0, 9.8, 10.5, 600.0]
    assert spy.loc[1, ["open", "high", "low", "close", "volume"]].tolist() == [10.5, 10.6, 10.0, 10.1, 50.0]
    assert out[out["symbol"] == "QQQ"]["close"].tolist() == [49.5]


def test_the_bundled_spy_file_gives_26_bars_a_session_whose_closes_match_the_minutes():
    minutes = _load_minute_file(str(SAMPLE_MINUTE_BARS))
    sessions = sorted({I.session_of(t) for t in minutes["bar_end"]} & {date(2011, 3, d) for d in range(1, 32)})
    for session in sessions:
        bars = I.resample(minutes, session)
        regular = I.regular_hours(minutes, session)
        assert len(bars) == 26 and len(regular) == 390
        assert bars["volume"].sum() == regular["volume"].sum()
        assert bars["close"].iloc[-1] == regular["close"].iloc[-1]  # the 16:00 minute closes the last bar
        assert bars["high"].max() == regular["high"].max() and bars["low"].min() == regular["low"].min()


def test_bars_known_at_an_instant_never_include_a_later_bar_end():
    bars = I.resample(_load_minute_file(str(SAMPLE_MINUTE_BARS)), D)
    cut = pd.Timestamp("2011-03-10 10:29", tz="America/New_York")
    known = I.known_at(bars, cut)
    assert known["bar_end"].max() == pd.Timestamp("2011-03-10 10:15", tz="America/New_York")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"high": 9.0}, "invalid bar"),
        ({"open": float("nan")}, "invalid bar"),
        ({"low": -1.0}, "invalid bar"),
    ],
)
def test_bad_minute_bars_are_refused(row, message):
    bar = {**minute("SPY", "2011-03-10 09:31", 10, 10.5, 9.5, 10), **row}
    with pytest.raises(ValueError, match=message):
        I.validate_minute_bars(pd.DataFrame([bar]))
    with pytest.raises(ValueError, match="tz-aware"):
        I.validate_minute_bars(pd.DataFrame([{**bar, "bar_end": pd.Timestamp("2011-03-10 14:31")}]))


def book(position: Position) -> BookState:
    equity = 10_000.0 + position.qty * position.last_price
    return BookState(
        book="t",
        cash=10_000.0,
        positions={position.symbol: position},
        pending=(),
        peak_equity=equity,
        last_session=D_PREV,
        equity=equity,
    )


def spy(**exits) -> Position:
    return Position(
        symbol="SPY", qty=10.0, avg_price=100.0, last_price=100.0, entry_session=D_PREV, **{"stop": None, **exits}
    )


def bars15(*rows: tuple[str, float, float, float, float]) -> pd.DataFrame:
    return pd.DataFrame([minute("SPY", f"2011-03-10 {t}", o, h, lo, c) for t, o, h, lo, c in rows])


def test_a_stop_touched_inside_a_bar_fills_at_the_stop_and_one_gapped_through_at_the_open():
    touched = I.manage_intraday(
        book(spy(stop=98.0)), D, bars15(("09:45", 99.5, 100.0, 99.0, 99.2), ("10:00", 99.2, 99.4, 97.5, 98.1)), NO_COSTS
    )
    (fill,) = touched.fills
    assert (fill.price, touched.exits[0].order_type) == (98.0, "stop")
    assert touched.exit_times[touched.exits[0].client_order_id] == pd.Timestamp(
        "2011-03-10 10:00", tz="America/New_York"
    )
    assert touched.state.positions == {} and touched.state.cash == pytest.approx(10_980.0)
    gapped = I.manage_intraday(
        book(spy(stop=98.0)), D, bars15(("09:45", 99.5, 100.0, 99.0, 99.2), ("10:00", 97.0, 97.5, 96.0, 97.2)), NO_COSTS
    )
    assert gapped.fills[0].price == 97.0


def test_the_trailing_stop_ratchets_bar_by_bar_and_the_take_profit_fills_at_its_target():
    rising = bars15(
        ("09:45", 100.0, 104.0, 99.9, 103.8),
        ("10:00", 103.8, 104.5, 103.0, 104.2),
        ("10:15", 104.2, 104.3, 101.0, 101.5),
    )
    trailed = I.manage_intraday(book(spy(trail_pct=0.02, high_water=100.0)), D, rising, NO_COSTS)
    (order,) = trailed.exits
    # High water 104.5 after the 10:00 bar: the stop is 102.41, touched by the 10:15 bar's low of 101.0.
    assert order.reason.startswith("trailing_stop") and trailed.fills[0].price == pytest.approx(104.5 * 0.98)
    target = I.manage_intraday(book(spy(target=104.0, stop=95.0)), D, rising, NO_COSTS)
    assert target.fills[0].price == 104.0 and target.exits[0].order_type == "limit"
    calm = I.manage_intraday(book(spy(target=110.0, stop=95.0)), D, rising, NO_COSTS)
    assert calm.exits == () and calm.state.positions["SPY"].high_water == 104.5
    assert calm.state.positions["SPY"].last_price == 101.5


def test_replaying_more_bars_keeps_the_same_exit_ids():
    early = bars15(("09:45", 99.5, 100.0, 97.0, 99.2))
    later = bars15(("09:45", 99.5, 100.0, 97.0, 99.2), ("10:00", 99.0, 99.5, 96.0, 97.0))
    a = I.manage_intraday(book(spy(stop=98.0)), D, early, NO_COSTS)
    b = I.manage_intraday(book(spy(stop=98.0)), D, later, NO_COSTS)
    assert [f.fill_id for f in a.fills] == [f.fill_id for f in b.fills] and len(b.fills) == 1


def test_a_closed_session_cannot_be_managed_again():
    closed = book(spy(stop=98.0))
    with pytest.raises(ValueError, match="already closed"):
        I.manage_intraday(closed, D_PREV, bars15(("09:45", 99.5, 100.0, 97.0, 99.2)), NO_COSTS)


@pytest.mark.parametrize(
    ("price", "expected"),
    [(105.0, ["+5.00%"]), (104.99, []), (95.0, ["-5.00%"]), (95.01, [])],
)
def test_the_price_move_rule_triggers_at_the_threshold_either_way(price, expected):
    moves = I.price_moves(D, {"SPY": price}, {"SPY": 100.0}, pd.Timestamp("2011-03-10 15:00", tz="UTC"))
    assert [m.describe() for m in moves] == expected


def test_the_price_move_rule_needs_a_previous_close_and_sane_prices():
    assert I.price_moves(D, {"SPY": 200.0}, {}, pd.Timestamp("2011-03-10 15:00", tz="UTC")) == []
    with pytest.raises(ValueError, match="positive"):
        I.price_moves(D, {"SPY": 0.0}, {"SPY": 100.0}, pd.Timestamp("2011-03-10 15:00", tz="UTC"))
    with pytest.raises(ValueError, match="threshold"):
        I.price_moves(D, {"SPY": 1.0}, {"SPY": 1.0}, pd.Timestamp("2011-03-10 15:00", tz="UTC"), threshold=1.5)
