"""market_context: feature formulas, ADX regime thresholds and their precedence, point-in-time baseline."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.context import CONTEXT_COLUMNS, CONTEXT_INPUTS, RegimeThresholds, market_context
from trading_pipeline.domain.indicators import compute_indicators
from trading_pipeline_tests.domain.test_indicators import wiki_bars


def _panel(**columns: list[float]) -> pd.DataFrame:
    """A one-symbol indicators panel with 300 calm, trendless bars (atr/close = 1%, adx14 = 10) and
    the given tail rows."""
    n_tail = len(next(iter(columns.values())))
    n = 300 + n_tail
    base = {
        "close": 100.0,
        "volume": 1_000.0,
        "sma50": 100.0,
        "sma200": 100.0,
        "adx14": 10.0,
        "atr14": 1.0,
        "volume_sma20": 1_000.0,
        "roc20": 0.0,
    }
    frame = pd.DataFrame(
        {name: np.r_[np.full(300, value), columns.get(name, [value] * n_tail)] for name, value in base.items()}
    )
    frame.insert(0, "symbol", "XYZ")
    frame.insert(0, "date", pd.bdate_range("2020-01-01", periods=n))
    return frame


def test_features_and_regimes_by_threshold() -> None:
    panel = _panel(
        sma50=[101.0, 99.0, 110.0, 90.0, 100.0, 101.0, 101.0, 110.0, 101.0, 100.0, 100.0, 101.0],
        sma200=[100.0, 100.0, 100.0, 100.0, 100.0, np.nan, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0],
        adx14=[31.2, 40.0, 25.0, 24.9, 60.0, 30.0, np.nan, 50.0, 30.0, 10.0, 10.0, 30.0],
        atr14=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.6, 1.5, 1.0, 1.0, 1.0],
        volume=[2_000.0, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000],
        roc20=[0.1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    )
    ctx = market_context(panel).tail(12).reset_index(drop=True)
    assert list(ctx.columns) == CONTEXT_COLUMNS
    assert ctx["regime"].tolist() == [
        "trending_up",  # adx 31.2 > 25, sma50 > sma200
        "trending_down",  # adx 40 > 25, sma50 < sma200
        "ranging",  # adx exactly 25 is not > 25, however wide the MA gap
        "ranging",  # adx 24.9
        "ranging",  # strong adx but sma50 == sma200: no direction
        "insufficient_history",  # sma200 NaN
        "insufficient_history",  # adx14 NaN
        "volatile",  # ratio 1.6 / 1.0 beats a strong uptrend (adx 50)
        "trending_up",  # ratio exactly 1.5 is not volatile
        "ranging",
        "ranging",
        "trending_up",
    ]
    assert ctx.loc[0, "trend_strength"] == 31.2
    assert ctx["trend_direction"].tolist() == [1, -1, 1, -1, 0, 0, 1, 1, 1, 0, 0, 1]
    assert ctx["trend_direction"].dtype == "int64"
    assert ctx.loc[0, "volume_ratio"] == 2.0
    assert ctx.loc[0, "momentum"] == 0.1
    assert ctx.loc[7, "volatility_ratio"] == pytest.approx(1.6)


def test_custom_thresholds_and_frozen() -> None:
    panel = _panel(sma50=[101.0], sma200=[100.0], adx14=[20.0], atr14=[1.2])
    assert RegimeThresholds() == RegimeThresholds(trending_adx=25.0, volatile_ratio=1.5)
    assert market_context(panel)["regime"].iloc[-1] == "ranging"
    assert market_context(panel, RegimeThresholds(trending_adx=15.0))["regime"].iloc[-1] == "trending_up"
    tight = RegimeThresholds(trending_adx=15.0, volatile_ratio=1.1)
    assert market_context(panel, tight)["regime"].iloc[-1] == "volatile"
    with pytest.raises(dataclasses.FrozenInstanceError):
        tight.trending_adx = 10.0  # type: ignore[misc]


@pytest.fixture(scope="module")
def real_indicators() -> pd.DataFrame:
    return compute_indicators(wiki_bars(("AAPL", "IBM", "FB")))


def test_volatility_ratio_is_a_trailing_median_per_symbol(real_indicators: pd.DataFrame) -> None:
    ctx = market_context(real_indicators)
    for symbol, frame in real_indicators.groupby("symbol"):
        atr_pct = frame["atr14"] / frame["close"]
        expected = atr_pct / atr_pct.rolling(252).median()
        pd.testing.assert_series_equal(
            ctx.loc[frame.index, "volatility_ratio"], expected, check_names=False, rtol=1e-12
        )
        # ATR needs 14 bars, then a full 252-bar baseline: first value on the 265th bar.
        first = ctx.loc[frame.index, "volatility_ratio"].first_valid_index()
        assert first is None if symbol == "FB" else first - frame.index[0] == 13 + 251
    fb = ctx[ctx["symbol"] == "FB"]
    assert (fb["regime"] == "insufficient_history").all()


def test_trend_features_on_real_data(real_indicators: pd.DataFrame) -> None:
    ctx = market_context(real_indicators)
    pd.testing.assert_series_equal(ctx["trend_strength"], real_indicators["adx14"], check_names=False)
    gap = real_indicators["sma50"] - real_indicators["sma200"]
    expected = np.where(gap > 0, 1, np.where(gap < 0, -1, 0))  # NaN gap → 0
    np.testing.assert_array_equal(ctx["trend_direction"].to_numpy(), expected)
    # Every trending row is a strong ADX in the direction of its label; all regimes occur.
    up, down = ctx["regime"] == "trending_up", ctx["regime"] == "trending_down"
    assert (ctx.loc[up | down, "trend_strength"] > 25).all()
    assert (ctx.loc[up, "trend_direction"] == 1).all() and (ctx.loc[down, "trend_direction"] == -1).all()
    assert set(ctx["regime"]) == {"trending_up", "trending_down", "ranging", "volatile", "insufficient_history"}


@pytest.mark.parametrize("cut", ["2003-02-03", "2009-03-09", "2012-07-02"])
def test_no_look_ahead(real_indicators: pd.DataFrame, cut: str) -> None:
    full = market_context(real_indicators)
    truncated = market_context(real_indicators[real_indicators["date"] <= cut].reset_index(drop=True))
    pd.testing.assert_frame_equal(truncated, full[full["date"] <= cut].reset_index(drop=True), check_exact=True)


def test_the_context_reads_only_the_indicator_columns_it_declares(real_indicators: pd.DataFrame) -> None:
    """The market_context asset loads only CONTEXT_INPUTS of the indicators: the rest must not matter."""
    narrow = real_indicators[["date", "symbol", *CONTEXT_INPUTS]]
    pd.testing.assert_frame_equal(market_context(narrow), market_context(real_indicators), check_exact=True)
