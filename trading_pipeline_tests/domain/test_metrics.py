import math

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.metrics import ROUND_TRIP_COLUMNS, performance_metrics, round_trips, trade_table

D1, D2, D3, D4, D5 = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"])


def fills(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["session", "symbol", "side", "qty", "price", "commission"])


AAA = fills(
    (D1, "AAA", "buy", 100.0, 10.0, 1.0),
    (D2, "AAA", "buy", 50.0, 12.0, 1.0),
    (D3, "AAA", "sell", 120.0, 15.0, 2.0),
    (D4, "AAA", "sell", 30.0, 9.0, 1.0),
)


def test_round_trips_fifo_with_partial_closes():
    trips = round_trips(AAA)
    assert list(trips.columns) == ROUND_TRIP_COLUMNS
    assert trips[
        ["entry_session", "exit_session", "qty", "entry_price", "exit_price", "gross_pnl"]
    ].values.tolist() == [
        [D1, D3, 100.0, 10.0, 15.0, 500.0],
        [D2, D3, 20.0, 12.0, 15.0, 60.0],
        [D2, D4, 30.0, 12.0, 9.0, -90.0],
    ]
    # commissions pro rata: entry 1/100 or 1/50 per share, exit 2/120 or 1/30 per share
    assert trips["commission"].tolist() == pytest.approx([1 + 100 * 2 / 120, 20 / 50 + 20 * 2 / 120, 30 / 50 + 1.0])
    assert trips["pnl"].sum() == pytest.approx(470.0 - 5.0)


def test_same_session_sell_closes_the_old_lot_not_the_new_buy():
    trips = round_trips(
        fills(
            (D3, "CCC", "buy", 5.0, 21.5, 1.0),  # listed first, but the broker fills sells before buys
            (D1, "CCC", "buy", 5.0, 20.0, 1.0),
            (D3, "CCC", "sell", 5.0, 21.0, 1.0),
        )
    )
    assert trips[["entry_session", "exit_session", "entry_price"]].values.tolist() == [[D1, D3, 20.0]]


def test_round_trips_refuses_overselling_and_bad_input():
    with pytest.raises(ValueError, match="exceeds the shares held"):
        round_trips(fills((D1, "AAA", "buy", 10.0, 1.0, 1.0), (D2, "AAA", "sell", 11.0, 1.0, 1.0)))
    with pytest.raises(ValueError, match="missing columns"):
        round_trips(AAA.drop(columns="commission"))
    with pytest.raises(ValueError, match="unknown sides"):
        round_trips(AAA.assign(side="short"))
    assert round_trips(AAA.iloc[:0]).empty


def test_performance_metrics_on_a_hand_built_curve():
    equity = pd.Series([100_000.0, 110_000.0, 99_000.0, 108_900.0], index=[D1, D2, D3, D4])
    m = performance_metrics(equity, AAA)
    # daily returns +10%, −10%, +10%
    assert m["total_return"] == pytest.approx(0.089)
    assert m["cagr"] == pytest.approx(1.089 ** (252 / 3) - 1)
    assert m["sharpe"] == pytest.approx((1 / 30) / math.sqrt(0.04 / 3) * math.sqrt(252))
    assert m["sortino"] == pytest.approx((1 / 30) / math.sqrt(0.01 / 3) * math.sqrt(252))
    assert m["max_drawdown"] == pytest.approx(99 / 110 - 1)
    assert m["win_rate"] == pytest.approx(2 / 3)
    win = (500 - 1 - 100 * 2 / 120) + (60 - 20 / 50 - 20 * 2 / 120)
    assert m["profit_factor"] == pytest.approx(win / 91.6)
    assert m["n_round_trips"] == 3
    assert m["exposure"] == 0.75  # held at the closes of D1–D3, flat after the D4 sale
    assert m["calmar"] == pytest.approx((1.089 ** (252 / 3) - 1) / 0.1)
    # notional 100×10 + 50×12 + 120×15 + 30×9 = 3670 over a mean equity of 104,475, for 4 sessions of 252 a year
    assert m["turnover"] == pytest.approx(3670 / 104_475 * 252 / 4)
    assert m["trades"] == 2  # two buys opened positions; the two sells closed them in three pieces
    assert set(m) == {
        "total_return",
        "cagr",
        "sharpe",
        "sortino",
        "max_drawdown",
        "calmar",
        "win_rate",
        "profit_factor",
        "n_round_trips",
        "trades",
        "exposure",
        "turnover",
    }


def test_exposure_counts_sessions_ending_with_a_position():
    equity = pd.Series([100.0, 101.0, 102.0, 103.0, 104.0], index=[D1, D2, D3, D4, D5])
    trade = fills((D2, "AAA", "buy", 1.0, 10.0, 0.0), (D4, "AAA", "sell", 1.0, 11.0, 0.0))
    m = performance_metrics(equity, trade)
    assert m["exposure"] == pytest.approx(2 / 5)  # held at the close of D2 and D3
    assert m["profit_factor"] is None and m["win_rate"] == 1.0  # no losing trade: no inf
    assert m["max_drawdown"] == 0.0 and m["sortino"] is None
    assert m["calmar"] is None  # no drawdown: no ratio, not inf


def test_degenerate_inputs():
    flat = performance_metrics(pd.Series([100.0, 100.0, 100.0], index=[D1, D2, D3]), AAA.iloc[:0])
    assert flat["sharpe"] is None and flat["total_return"] == 0.0 and flat["exposure"] == 0.0
    assert flat["win_rate"] is None and flat["n_round_trips"] == 0
    assert flat["turnover"] == 0.0 and flat["trades"] == 0 and flat["calmar"] is None
    single = performance_metrics(pd.Series([100.0], index=[D1]), AAA.iloc[:0])
    assert single["cagr"] is None and single["sharpe"] is None
    with pytest.raises(ValueError, match="finite"):
        performance_metrics(pd.Series([100.0, np.nan], index=[D1, D2]), AAA)
    with pytest.raises(ValueError, match="increasing"):
        performance_metrics(pd.Series([100.0, 101.0], index=[D2, D1]), AAA)
    with pytest.raises(ValueError, match="empty"):
        performance_metrics(pd.Series([], dtype="float64"), AAA)


def test_round_trips_credit_the_entry_strategy_and_group_into_tables():
    tagged = pd.concat(
        [
            AAA.assign(strategy=["trend", "breakout", "exit", "exit"]),
            fills((D1, "BBB", "buy", 10.0, 5.0, 0.0), (D2, "BBB", "sell", 10.0, 4.0, 0.0)).assign(
                strategy=[None, "exit"]
            ),
        ]
    )
    trips = round_trips(tagged)
    assert trips["strategy"].iloc[:3].tolist() == ["trend", "breakout", "breakout"]
    assert pd.isna(trips["strategy"].iloc[3])
    assert round_trips(AAA)["strategy"].isna().all()  # fills without strategies: nothing invented

    by_strategy = trade_table(trips, "strategy")
    assert by_strategy.index.tolist() == ["breakout", "trend", "unknown"]
    breakout = by_strategy.loc["breakout"]
    win, loss = 60 - 20 / 50 - 20 * 2 / 120, 90 + 30 / 50 + 1.0
    assert breakout["trades"] == 2 and breakout["win_rate"] == 0.5
    assert breakout["pnl"] == pytest.approx(win - loss)
    assert breakout["profit_factor"] == pytest.approx(win / loss)
    assert pd.isna(by_strategy.loc["trend", "profit_factor"])  # nothing lost: missing, not inf
    assert by_strategy.loc["unknown", "pnl"] == pytest.approx(-10.0)
    assert by_strategy.loc["unknown", "win_rate"] == 0.0

    by_symbol = trade_table(trips, "symbol")
    assert by_symbol["trades"].to_dict() == {"AAA": 3, "BBB": 1}
    assert by_symbol["pnl"].sum() == pytest.approx(trips["pnl"].sum())
    with pytest.raises(ValueError, match="no column 'sector'"):
        trade_table(trips, "sector")
    assert trade_table(trips.iloc[:0], "symbol").empty
