"""select_strategies: the documented regime → strategy map, reasons, and fallbacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.context import REGIMES, market_context
from trading_pipeline.domain.indicators import compute_indicators
from trading_pipeline.domain.schema import StrategyName
from trading_pipeline.domain.selection import (
    FALLBACK_PREFERENCE,
    REGIME_STRATEGY,
    SELECTION_COLUMNS,
    select_strategies,
)
from trading_pipeline.domain.strategies import REGISTRY, generate_signals
from trading_pipeline_tests.domain.test_indicators import wiki_bars

TF, MR = str(StrategyName.TREND_FOLLOWING), str(StrategyName.MEAN_REVERSION)


@pytest.fixture
def context() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.Timestamp("2020-01-02"),
            "symbol": ["UP", "DOWN", "FLAT", "WILD", "YOUNG"],
            "trend_strength": [31.24, 42.0, 18.36, 55.0, np.nan],
            "trend_direction": [1, -1, 1, 0, 0],
            "volatility_ratio": [1.1, 0.9, 0.954, 1.723, np.nan],
            "volume_ratio": 1.0,
            "momentum": 0.0,
            "regime": ["trending_up", "trending_down", "ranging", "volatile", "insufficient_history"],
        }
    )


def test_every_regime_is_mapped() -> None:
    assert set(REGIME_STRATEGY) == set(REGIMES)
    assert set(FALLBACK_PREFERENCE) == set(StrategyName)


def test_ranging_reason_shows_a_missing_direction(context: pd.DataFrame) -> None:
    flat = context.assign(trend_strength=40.0, trend_direction=0, volatility_ratio=1.0, regime="ranging")
    out = select_strategies(flat.head(1), list(REGISTRY))
    assert out["reason"].iloc[0] == "ranging: adx14=40.0, sma50=sma200, volatility_ratio=1.00"


def test_regimes_map_as_documented(context: pd.DataFrame) -> None:
    out = select_strategies(context, list(REGISTRY))
    assert list(out.columns) == SELECTION_COLUMNS
    assert out["strategy"].tolist() == [TF, TF, MR, MR, MR]
    assert out["reason"].tolist() == [
        "trending_up: adx14=31.2, sma50>sma200",
        "trending_down: adx14=42.0, sma50<sma200",
        "ranging: adx14=18.4, sma50>sma200, volatility_ratio=0.95",
        "volatile: volatility_ratio=1.72",
        "insufficient_history: sma200 or adx14 undefined",
    ]
    pd.testing.assert_frame_equal(out[["date", "symbol"]], context[["date", "symbol"]])


def test_unavailable_strategy_falls_back_in_preference_order(context: pd.DataFrame) -> None:
    only_tf = select_strategies(context, [TF])
    assert only_tf["strategy"].tolist() == [TF] * 5
    assert only_tf["reason"].iloc[0] == "trending_up: adx14=31.2, sma50>sma200"
    assert only_tf["reason"].iloc[2] == (
        "ranging: adx14=18.4, sma50>sma200, volatility_ratio=0.95; MeanReversion unavailable, fallback TrendFollowing"
    )
    only_mr = select_strategies(context, [StrategyName.MEAN_REVERSION])
    assert only_mr["strategy"].tolist() == [MR] * 5
    assert only_mr["reason"].iloc[1].endswith("; TrendFollowing unavailable, fallback MeanReversion")
    # Neither mapped strategy available: first available in FALLBACK_PREFERENCE order.
    others = select_strategies(context, ["BollingerBands", "Breakout"])
    assert others["strategy"].tolist() == ["Breakout"] * 5


def test_nothing_usable_or_unknown_regime_raises(context: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="available"):
        select_strategies(context, [])
    with pytest.raises(ValueError, match="available"):
        select_strategies(context, ["Astrology"])
    with pytest.raises(ValueError, match="sideways"):
        select_strategies(context.assign(regime="sideways"), list(REGISTRY))


def test_on_real_context_every_row_gets_an_available_strategy() -> None:
    ctx = market_context(compute_indicators(wiki_bars(("AAPL", "IBM", "FB"))))
    out = select_strategies(ctx, list(REGISTRY))
    assert len(out) == len(ctx) and out["strategy"].isin(list(REGISTRY)).all()
    expected = ctx["regime"].map({regime: str(name) for regime, name in REGIME_STRATEGY.items()})
    assert out["strategy"].tolist() == expected.tolist()
    assert (out["reason"].str.split(":").str[0] == ctx["regime"]).all()


def test_selected_strategies_fire_on_real_data() -> None:
    """The regime must select TrendFollowing where it can fire: on the 5-stock panel the chain
    indicators → context → selection → signals yields BUY/SELL for every selected strategy."""
    bars = wiki_bars(("AAPL", "FB", "GOOG", "IBM", "MSFT"))
    assert bars["symbol"].nunique() == 5
    indicators = compute_indicators(bars)
    context = market_context(indicators)
    selection = select_strategies(context, list(REGISTRY))
    signals = generate_signals(indicators, selection)
    counts = (
        signals[signals["action"] != "HOLD"]
        .groupby(["strategy", "action"]).size().unstack(fill_value=0)
        .reindex(index=[TF, MR], columns=["BUY", "SELL"], fill_value=0)
    )
    print(f"\nrows selected per strategy: {selection['strategy'].value_counts().to_dict()}")
    print(f"BUY/SELL where selected (5 stocks, 2000-2013):\n{counts}")
    assert counts.loc[TF].sum() >= 1
    assert counts.loc[MR].sum() >= 1
    # Signals come only from the selected strategy, and a TrendFollowing cross trades with its regime.
    trades = (
        signals[signals["action"] != "HOLD"]
        .merge(selection, on=["date", "symbol"], suffixes=("", "_sel"))
        .merge(context[["date", "symbol", "regime"]], on=["date", "symbol"])
    )
    assert (trades["strategy"] == trades["strategy_sel"]).all()
    tf = trades[trades["strategy"] == TF]
    assert (tf["regime"] == tf["action"].map({"BUY": "trending_up", "SELL": "trending_down"})).all()
