"""select_strategies: the documented rule table over all ten strategies, its reasons and fallbacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.context import market_context
from trading_pipeline.domain.indicators import compute_indicators
from trading_pipeline.domain.schema import StrategyName
from trading_pipeline.domain.selection import (
    FALLBACK_PREFERENCE,
    SELECTION_COLUMNS,
    SelectionThresholds,
    select_strategies,
)
from trading_pipeline.domain.strategies import REGISTRY, generate_signals
from trading_pipeline_tests.domain.test_indicators import wiki_bars

S = StrategyName

# One hand-built row per rule of the table, in rule order: (regime, adx, direction, vol, volume, roc20).
RULE_ROWS = [
    (
        "insufficient_history",
        np.nan,
        0,
        np.nan,
        1.0,
        0.0,
        S.MEAN_REVERSION,
        "insufficient_history: sma200 or adx14 undefined",
    ),
    (
        "volatile",
        30.0,
        1,
        1.72,
        1.0,
        -0.12,
        S.VOLATILITY_BREAKOUT,
        "volatile: volatility_ratio=1.72, |roc20=-12.0%| >= 10%",
    ),
    ("volatile", 30.0, 1, 1.72, 1.0, 0.04, S.BOLLINGER_BANDS, "volatile: volatility_ratio=1.72, |roc20=+4.0%| < 10%"),
    (
        "trending_up",
        31.24,
        1,
        1.0,
        1.8,
        0.01,
        S.BREAKOUT,
        "trending_up: adx14=31.2, sma50>sma200, volume_ratio=1.80 >= 1.5",
    ),
    ("trending_down", 45.0, -1, 1.0, 1.0, 0.01, S.MOMENTUM_ROTATION, "trending_down: adx14=45.0, sma50<sma200 (>= 40)"),
    (
        "trending_up",
        30.0,
        1,
        1.0,
        1.0,
        0.02,
        S.DUAL_MOMENTUM,
        "trending_up: adx14=30.0, sma50>sma200, roc20=+2.0% with the trend",
    ),
    (
        "trending_down",
        30.0,
        -1,
        1.0,
        1.0,
        0.02,
        S.TREND_FOLLOWING,
        "trending_down: adx14=30.0, sma50<sma200, roc20=+2.0% not with the trend",
    ),
    ("ranging", 12.0, 1, 1.0, 1.0, 0.0, S.MOVING_AVERAGE_ENVELOPE, "ranging: adx14=12.0 < 15"),
    ("ranging", 20.0, 1, 1.0, 1.0, 0.06, S.RELATIVE_STRENGTH, "ranging: adx14=20.0, roc20=+6.0% >= +5%"),
    ("ranging", 20.0, -1, 1.0, 1.0, -0.05, S.SECTOR_ROTATION, "ranging: adx14=20.0, roc20=-5.0% <= -5%"),
    (
        "ranging",
        20.0,
        0,
        0.95,
        1.0,
        0.01,
        S.MEAN_REVERSION,
        "ranging: adx14=20.0, sma50=sma200, volatility_ratio=0.95, roc20=+1.0%",
    ),
]


@pytest.fixture
def context() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.Timestamp("2020-01-02"),
            "symbol": [f"S{i}" for i in range(len(RULE_ROWS))],
            "trend_strength": [r[1] for r in RULE_ROWS],
            "trend_direction": [r[2] for r in RULE_ROWS],
            "volatility_ratio": [r[3] for r in RULE_ROWS],
            "volume_ratio": [r[4] for r in RULE_ROWS],
            "momentum": [r[5] for r in RULE_ROWS],
            "regime": [r[0] for r in RULE_ROWS],
        }
    )


def test_every_strategy_has_a_rule_and_a_fallback_place() -> None:
    assert {r[6] for r in RULE_ROWS} == set(StrategyName)
    assert set(FALLBACK_PREFERENCE) == set(StrategyName)


def test_rules_map_as_documented(context: pd.DataFrame) -> None:
    out = select_strategies(context, list(REGISTRY))
    assert list(out.columns) == SELECTION_COLUMNS
    assert out["strategy"].tolist() == [str(r[6]) for r in RULE_ROWS]
    assert out["reason"].tolist() == [r[7] for r in RULE_ROWS]
    pd.testing.assert_frame_equal(out[["date", "symbol"]], context[["date", "symbol"]])


def test_boundaries_are_inclusive_where_documented(context: pd.DataFrame) -> None:
    """At exactly the volume, ADX and drift thresholds the rule fires; just under, the next one does."""
    row = context.iloc[[3]].assign(volume_ratio=1.5)
    assert select_strategies(row, list(REGISTRY))["strategy"].item() == S.BREAKOUT
    assert select_strategies(row.assign(volume_ratio=1.4999), list(REGISTRY))["strategy"].item() == S.DUAL_MOMENTUM
    flat = context.iloc[[7]]
    assert select_strategies(flat.assign(trend_strength=15.0), list(REGISTRY))["strategy"].item() == S.MEAN_REVERSION


def test_thresholds_are_configurable(context: pd.DataFrame) -> None:
    out = select_strategies(context.iloc[[3]], list(REGISTRY), SelectionThresholds(breakout_volume=2.0))
    assert out["strategy"].item() == S.DUAL_MOMENTUM


def test_unavailable_strategy_falls_back_in_preference_order(context: pd.DataFrame) -> None:
    only_tf = select_strategies(context, [S.TREND_FOLLOWING])
    assert only_tf["strategy"].tolist() == [S.TREND_FOLLOWING] * len(RULE_ROWS)
    assert only_tf["reason"].iloc[6] == RULE_ROWS[6][7]
    assert only_tf["reason"].iloc[3] == RULE_ROWS[3][7] + "; Breakout unavailable, fallback TrendFollowing"
    others = select_strategies(context, ["BollingerBands", "Breakout"])
    assert others["strategy"].tolist()[3] == "Breakout"
    assert set(others["strategy"]) == {"BollingerBands", "Breakout"}


def test_nothing_usable_or_unknown_regime_raises(context: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="available"):
        select_strategies(context, [])
    with pytest.raises(ValueError, match="available"):
        select_strategies(context, ["Astrology"])
    with pytest.raises(ValueError, match="sideways"):
        select_strategies(context.assign(regime="sideways"), list(REGISTRY))


def test_on_real_data_the_policy_uses_the_whole_set_and_each_choice_can_fire() -> None:
    """On the 5-stock panel (2000-2013) the chain indicators → context → selection → signals picks
    most of the ten strategies, and the selected ones produce BUY/SELL signals."""
    bars = wiki_bars(("AAPL", "FB", "GOOG", "IBM", "MSFT"))
    indicators = compute_indicators(bars)
    context = market_context(indicators)
    selection = select_strategies(context, list(REGISTRY))
    assert len(selection) == len(context) and selection["strategy"].isin(list(REGISTRY)).all()
    assert (selection["reason"].str.split(":").str[0] == context["regime"]).all()
    chosen = selection["strategy"].value_counts()
    print(f"\nrows selected per strategy: {chosen.to_dict()}")
    assert len(chosen) == len(REGISTRY)
    signals = generate_signals(indicators, selection)
    fired = signals[signals["action"] != "HOLD"]["strategy"].nunique()
    assert fired >= 6
    trades = signals[signals["action"] != "HOLD"].merge(selection, on=["date", "symbol"], suffixes=("", "_sel"))
    assert (trades["strategy"] == trades["strategy_sel"]).all()
