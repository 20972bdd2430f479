"""Strategies and generate_signals: known signals on hand-built paths, tie cases, the minimum-history
rule, per-row dispatch, and no look-ahead on real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.context import market_context
from trading_pipeline.domain.indicators import compute_indicators
from trading_pipeline.domain.schema import SIGNAL_COLUMNS, Action, StrategyName
from trading_pipeline.domain.selection import select_strategies
from trading_pipeline.domain.strategies import REGISTRY, generate_signals
from trading_pipeline.domain.strategies.base import (
    SIGNAL_OUTPUT_COLUMNS,
    Strategy,
    atr_signals,
    number_text,
    reasons,
    reasons_shown_only,
    text_table,
)
from trading_pipeline.domain.strategies.mean_reversion import MeanReversion
from trading_pipeline.domain.strategies.trend_following import TrendFollowing
from trading_pipeline_tests.domain.test_indicators import wiki_bars

BUY, SELL, HOLD = Action.BUY.value, Action.SELL.value, Action.HOLD.value
MR_NAME = str(StrategyName.MEAN_REVERSION)


def _bars(close: np.ndarray, symbol: str = "XYZ") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.bdate_range("2015-01-01", periods=len(close)),
            "symbol": symbol,
            "open": close,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": 1_000_000,
            "quarantined": False,
            "quarantine_reason": None,
        }
    )


def _panel(rows: dict[str, list[dict[str, float]]], history_from: int = 250) -> pd.DataFrame:
    """A hand-built indicators panel: per symbol, a list of rows of indicator values."""
    frames = []
    for symbol, values in rows.items():
        frame = pd.DataFrame(values)
        frame.insert(0, "symbol", symbol)
        frame.insert(0, "date", pd.bdate_range("2020-01-01", periods=len(frame)))
        frame["history"] = np.arange(history_from, history_from + len(frame))
        frames.append(frame)
    panel = pd.concat(frames, ignore_index=True)
    for column, default in (("close", 100.0), ("atr14", 2.0)):
        if column not in panel:
            panel[column] = default
    return panel


def _assert_well_formed(signals: pd.DataFrame, panel: pd.DataFrame) -> None:
    assert list(signals.columns) == SIGNAL_OUTPUT_COLUMNS
    assert signals.index.equals(panel.index)
    assert set(signals["action"]) <= {BUY, SELL, HOLD}
    assert signals["confidence"].notna().all()
    hold = signals["action"] == HOLD
    assert (signals.loc[hold, "confidence"] == 0).all()
    assert signals.loc[hold, ["stop", "target"]].isna().all().all()
    assert signals.loc[~hold, "confidence"].between(0.3, 1.0).all()
    assert signals.loc[~hold, ["stop", "target"]].notna().all().all()
    assert (signals["reason"].str.len() > 0).all()


# --- TrendFollowing ---------------------------------------------------------------------------


def test_trend_following_buy_on_the_golden_cross_of_a_v_shaped_path() -> None:
    """Down 250 bars (200 → 100), then up 1/bar: sma50 overtakes sma200 on bar 303 and only there.

    sma50 - sma200 is -0.20 on bar 302 and +0.82 on bar 303.
    """
    close = np.r_[np.linspace(200.0, 100.0, 250), 100.0 + np.arange(1, 151)]
    panel = compute_indicators(_bars(close))
    sma50, sma200 = pd.Series(close).rolling(50).mean(), pd.Series(close).rolling(200).mean()
    above = sma50 > sma200
    assert (above & ~above.shift(1, fill_value=True)).idxmax() == 303  # independent hand computation

    signals = TrendFollowing().generate(panel)
    _assert_well_formed(signals, panel)
    assert signals.index[signals["action"] != HOLD].tolist() == [303]
    row, atr = signals.loc[303], panel.loc[303, "atr14"]
    assert row["action"] == BUY
    assert row["stop"] == pytest.approx(panel.loc[303, "close"] - 1.5 * atr)
    assert row["target"] == pytest.approx(panel.loc[303, "close"] + 3.0 * atr)
    assert row["reason"].startswith("sma50 crossed above sma200")


def test_trend_following_sell_on_the_death_cross_of_an_inverted_v() -> None:
    close = np.r_[np.linspace(100.0, 200.0, 250), 200.0 - np.arange(1, 151)]
    panel = compute_indicators(_bars(close))
    signals = TrendFollowing().generate(panel)
    assert signals.index[signals["action"] != HOLD].tolist() == [303]
    row, atr = signals.loc[303], panel.loc[303, "atr14"]
    assert row["action"] == SELL
    assert row["stop"] == pytest.approx(panel.loc[303, "close"] + 1.5 * atr)
    assert row["target"] == pytest.approx(panel.loc[303, "close"] - 3.0 * atr)


def _ma_rows(pairs: list[tuple[float, float]]) -> list[dict[str, float]]:
    return [{"sma50": fast, "sma200": slow} for fast, slow in pairs]


def test_trend_following_tie_cases() -> None:
    """Cross on t iff sma50[t-1] <= sma200[t-1] and sma50[t] > sma200[t] (SELL mirrored)."""
    panel = _panel(
        {
            "below_tie_above": _ma_rows([(99, 100), (100, 100), (101, 100)]),
            "below_tie_below": _ma_rows([(99, 100), (100, 100), (99, 100)]),
            "tie_above": _ma_rows([(100, 100), (101, 100)]),
            "above_tie_above": _ma_rows([(101, 100), (100, 100), (101, 100)]),
            "above_tie_below": _ma_rows([(101, 100), (100, 100), (99, 100)]),
            "below_above_below": _ma_rows([(99, 100), (101, 100), (99, 100)]),
            "tie_tie": _ma_rows([(100, 100), (100, 100)]),
        }
    )
    signals = TrendFollowing().generate(panel)
    _assert_well_formed(signals, panel)
    got = signals["action"].groupby(panel["symbol"], sort=False).agg(list).to_dict()
    assert got == {
        "below_tie_above": [HOLD, HOLD, BUY],  # a tie is not a cross; strictly above after it is
        "below_tie_below": [HOLD, HOLD, SELL],  # ... and so is strictly below after it
        "tie_above": [HOLD, BUY],  # first row: no previous bar of this symbol, so no cross
        "above_tie_above": [HOLD, HOLD, BUY],  # a touch: the tie resets the state, the next side decides
        "above_tie_below": [HOLD, HOLD, SELL],
        "below_above_below": [HOLD, BUY, SELL],
        "tie_tie": [HOLD, HOLD],
    }


def test_trend_following_previous_bar_is_per_symbol() -> None:
    """The last bar of one symbol is never the 'previous' bar of the next symbol's first row."""
    panel = _panel({"A": _ma_rows([(99, 100)]), "B": _ma_rows([(101, 100), (102, 100)])})
    assert (TrendFollowing().generate(panel)["action"] == HOLD).all()


def test_trend_following_confidence_from_close_distance_in_atr() -> None:
    # close 2 ATR beyond sma200 → halfway up the ramp: 0.3 + 0.7 * 2 / 4
    panel = _panel({"A": [{"sma50": 99, "sma200": 100, "close": 104}, {"sma50": 101, "sma200": 100, "close": 104}]})
    assert TrendFollowing().generate(panel)["confidence"].tolist() == [0.0, pytest.approx(0.65)]
    # close below sma200 on a golden cross: weakest signal, still a BUY at the floor
    panel.loc[1, "close"] = 90.0
    assert TrendFollowing().generate(panel)["confidence"].iloc[1] == pytest.approx(0.3)
    panel.loc[1, "close"] = 150.0
    assert TrendFollowing().generate(panel)["confidence"].iloc[1] == 1.0


# --- MeanReversion ----------------------------------------------------------------------------


def test_mean_reversion_on_a_rise_then_fall_path() -> None:
    """Up 1/bar for 40 bars, then down 1/bar: RSI = 100·(13/14)^m after m down bars (Wilder).

    SELL while RSI > 70 (bars 29..39 at RSI 100 once history >= 30, then m = 1..4), BUY from m = 17
    (RSI 28.37; m = 16 gives 30.55).
    """
    close = np.r_[100.0 + np.arange(40), 139.0 - np.arange(1, 41)]
    panel = compute_indicators(_bars(close))
    m = np.arange(1, 41)
    np.testing.assert_allclose(panel["rsi14"].to_numpy()[40:], 100 * (13 / 14) ** m, rtol=1e-12)

    signals = MeanReversion().generate(panel)
    _assert_well_formed(signals, panel)
    actions = signals["action"]
    assert actions.iloc[:29].eq(HOLD).all()  # history < 30
    assert actions.iloc[29:44].eq(SELL).all()
    assert actions.iloc[44:56].eq(HOLD).all()
    assert actions.iloc[56:].eq(BUY).all()
    assert signals.loc[56, "reason"] == "rsi14=28.37 < 30 (oversold)"
    assert signals.loc[30, "confidence"] == 1.0  # RSI 100 is 30 points beyond the band


def test_mean_reversion_band_edges_and_confidence() -> None:
    rsi = [29.999, 30.0, 50.0, 70.0, 70.001, 20.0, 80.0, 5.0, 95.0]
    panel = _panel({"A": [{"rsi14": value} for value in rsi]}, history_from=30)
    signals = MeanReversion().generate(panel)
    _assert_well_formed(signals, panel)
    assert signals["action"].tolist() == [BUY, HOLD, HOLD, HOLD, SELL, BUY, SELL, BUY, SELL]
    np.testing.assert_allclose(signals["confidence"], [0.300035, 0, 0, 0, 0.300035, 0.65, 0.65, 1.0, 1.0], atol=1e-12)
    assert signals.loc[5, "stop"] == 100.0 - 1.5 * 2.0 and signals.loc[5, "target"] == 100.0 + 3.0 * 2.0
    assert signals.loc[6, "stop"] == 100.0 + 1.5 * 2.0 and signals.loc[6, "target"] == 100.0 - 3.0 * 2.0


# --- minimum history --------------------------------------------------------------------------


def _firing_panel(history_from: int) -> pd.DataFrame:
    """Two bars of six symbols (incl. the RelativeStrength benchmark SPY) on which every registered
    strategy fires somewhere once history allows: sma50 crosses sma200, rsi14 10, a jump from 100 to
    110 through the Donchian high, the upper Bollinger band and the +5% envelope with a 10-ATR true
    range, close/sma50 crossing above SPY's, and distinct roc126 values (own sector each)."""

    def rows(roc126: float, close1: float) -> list[dict[str, float]]:
        common = {
            "rsi14": 10.0,
            "atr14": 2.0,
            "roc126": roc126,
            "donchian_high20": 105.0,
            "donchian_low20": 95.0,
            "bb_lower": 95.0,
            "bb_upper": 105.0,
            "sma200": 100.0,
        }
        return [
            {**common, "sma50": 99.0, "close": 100.0, "high": 100.5, "low": 99.5},
            {**common, "sma50": 101.0, "close": close1, "high": close1 + 0.5, "low": close1 - 0.5},
        ]

    rocs = {"A": 0.5, "B": 0.2, "C": 0.1, "D": -0.1, "E": -0.2}
    return _panel(
        {**{symbol: rows(roc, 110.0) for symbol, roc in rocs.items()}, "SPY": rows(0.0, 105.0)},
        history_from=history_from,
    )


@pytest.mark.parametrize("strategy", list(REGISTRY.values()), ids=list(REGISTRY))
def test_minimum_history_is_a_reasoned_hold(strategy: Strategy) -> None:
    # Indicators that would fire every strategy, on symbols too young for it.
    panel = _firing_panel(history_from=strategy.min_history - 2)
    signals = strategy.generate(panel)
    _assert_well_formed(signals, panel)
    assert signals["action"].eq(HOLD).all()
    assert (
        signals["reason"].tolist()
        == [f"insufficient history: {strategy.min_history - 2 + i} < {strategy.min_history} bars" for i in (0, 1)] * 6
    )
    assert not strategy.generate(_firing_panel(history_from=strategy.min_history))["action"].eq(HOLD).all()


def test_minimum_history_on_real_young_symbol() -> None:
    panel = compute_indicators(wiki_bars(("AAPL",)).head(120))
    signals = TrendFollowing().generate(panel)
    _assert_well_formed(signals, panel)
    assert signals["action"].eq(HOLD).all()
    assert signals["reason"].iloc[-1] == "insufficient history: 120 < 200 bars"


# --- no look-ahead ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_bars() -> pd.DataFrame:
    return wiki_bars(("AAPL", "IBM", "MSFT", "FB"))


@pytest.fixture(scope="module")
def real_panel(real_bars: pd.DataFrame) -> pd.DataFrame:
    return compute_indicators(real_bars)


def test_real_data_signals_are_well_formed(real_panel: pd.DataFrame) -> None:
    # On these 4 symbols MomentumRotation never has 5 symbols to rank, there is no SPY benchmark, and the
    # bundled sector map puts all four in Information Technology (one sector: nothing to rotate between),
    # so those three only HOLD, for that reason (test_strategies_more covers them on the 5 stocks).
    cannot_fire = {
        str(StrategyName.MOMENTUM_ROTATION): "symbols ranked by roc126 on this date (< 5)",
        str(StrategyName.RELATIVE_STRENGTH): "benchmark SPY not in the universe",
        str(StrategyName.SECTOR_ROTATION): "sectors with a momentum on this date (< 2)",
    }
    for name, strategy in REGISTRY.items():
        signals = strategy.generate(real_panel)
        _assert_well_formed(signals, real_panel)
        if name in cannot_fire:
            assert signals["action"].eq(HOLD).all()
            # roc126 needs 127 bars: on the 126th the sector rule has nothing to rank yet.
            old_enough = (real_panel["history"] >= strategy.min_history) & real_panel["roc126"].notna()
            assert signals.loc[old_enough, "reason"].str.endswith(cannot_fire[name]).all()
        else:
            assert (signals["action"] != HOLD).any()


@pytest.mark.parametrize("cut", ["2001-03-01", "2003-10-15", "2008-09-15", "2010-05-06", "2012-06-01"])
def test_no_look_ahead(real_bars: pd.DataFrame, real_panel: pd.DataFrame, cut: str) -> None:
    """Signals up to D are identical whether computed on data up to D or on the whole history."""
    panel_cut = compute_indicators(real_bars[real_bars["date"] <= cut])
    keep = (real_panel["date"] <= cut).to_numpy()
    for strategy in REGISTRY.values():
        full = strategy.generate(real_panel)[keep].reset_index(drop=True)
        pd.testing.assert_frame_equal(strategy.generate(panel_cut), full, check_exact=True)

    def chain(panel: pd.DataFrame) -> pd.DataFrame:
        return generate_signals(panel, select_strategies(market_context(panel), list(REGISTRY)))

    pd.testing.assert_frame_equal(chain(panel_cut), chain(real_panel)[keep].reset_index(drop=True), check_exact=True)


# --- generate_signals -------------------------------------------------------------------------


def test_generate_signals_picks_the_selected_strategy_per_row(real_panel: pd.DataFrame) -> None:
    # Every strategy: each builds its reason texts only for the rows it was selected for, and they must be
    # the very texts it gives those rows when it runs alone.
    names = list(REGISTRY)
    selection = real_panel[["date", "symbol"]].assign(
        strategy=[str(names[i % len(names)]) for i in range(len(real_panel))]
    )
    selection = selection[real_panel.index % 7 != 3].sample(frac=1.0, random_state=1)  # some rows unselected
    out = generate_signals(real_panel, selection)

    assert list(out.columns) == SIGNAL_COLUMNS
    pd.testing.assert_frame_equal(out[["date", "symbol"]], real_panel[["date", "symbol"]])
    expected = {name: REGISTRY[name].generate(real_panel) for name in map(str, names)}
    for name, signals in expected.items():
        rows = (out["strategy"] == name).to_numpy()
        assert rows.any()
        assert out.loc[rows, "reason"].str.len().gt(0).all()
        pd.testing.assert_frame_equal(
            out.loc[rows, SIGNAL_OUTPUT_COLUMNS], signals.loc[rows], check_exact=True, check_dtype=False
        )
    missing = real_panel.index % 7 == 3
    assert out.loc[missing, "strategy"].isna().all()
    assert (out.loc[missing, "action"] == HOLD).all() and (out.loc[missing, "confidence"] == 0).all()
    assert (out.loc[missing, "reason"] == "no strategy selected").all()
    assert out.loc[missing, ["stop", "target"]].isna().all().all()


def test_number_text_gives_a_rounded_zero_the_sign_of_its_own_row() -> None:
    # factorize holds -0.0 and 0.0 as one value: the first row seen must not decide the others' sign.
    for values in ([-0.01, 0.01, 0.2, np.nan], [0.01, -0.01, 0.2, np.nan]):
        texts = number_text(np.array(values), 1, signed=True).to_pylist()
        assert texts == [f"{round(v, 1):+.1f}" if v == v else "nan" for v in values]


def test_reasons_are_built_only_for_shown_rows_of_the_masked_frame() -> None:
    index = pd.RangeIndex(4)
    cases = [(np.array([True, True, False, True]), lambda rows: text_table([f"row {r}" for r in rows]))]
    with reasons_shown_only(np.array([True, False, True, False])):
        assert reasons(index, "default", cases).tolist() == ["row 0", "", "default", ""]
        # Another frame than the one the mask is for: every row's text, not a misaligned mask.
        assert reasons(pd.RangeIndex(2), "default", [(np.array([True, False]), cases[0][1])]).tolist() == [
            "row 0",
            "default",
        ]
    assert reasons(index, "default", cases).tolist() == ["row 0", "row 1", "default", "row 3"]


def test_generate_signals_unknown_strategy_raises(real_panel: pd.DataFrame) -> None:
    selection = real_panel[["date", "symbol"]].head(3).assign(strategy=["MeanReversion", "Astrology", "MeanReversion"])
    with pytest.raises(ValueError, match="Astrology"):
        generate_signals(real_panel, selection)


def test_generate_signals_with_a_custom_registry() -> None:
    """Adding a strategy is a subclass plus a registry entry."""

    class AlwaysBuy(Strategy):
        name = "AlwaysBuy"
        min_history = 1

        def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
            buy = pd.Series(True, index=panel.index)
            return atr_signals(
                panel, buy, ~buy, pd.Series(0.9, index=panel.index), pd.Series("always", index=panel.index)
            )

    panel = _panel({"A": [{"rsi14": 50.0}] * 3})
    selection = panel[["date", "symbol"]].assign(strategy="AlwaysBuy")
    out = generate_signals(panel, selection, registry={**REGISTRY, "AlwaysBuy": AlwaysBuy()})
    assert out["action"].tolist() == [BUY] * 3 and out["confidence"].tolist() == [0.9] * 3


def test_generate_signals_rejects_duplicate_selection_and_accepts_enum_names() -> None:
    panel = _panel({"A": [{"rsi14": 20.0}, {"rsi14": 50.0}]}, history_from=30)
    selection = panel[["date", "symbol"]].assign(strategy=StrategyName.MEAN_REVERSION)
    out = generate_signals(panel, selection)
    assert out["strategy"].tolist() == [MR_NAME, MR_NAME] and out["action"].tolist() == [BUY, HOLD]
    with pytest.raises(ValueError, match="more than one strategy"):
        generate_signals(panel, pd.concat([selection, selection.head(1)]))
