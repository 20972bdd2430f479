"""Deterministic regime → strategy selection: the offline default and the LLM's fallback.

It must always produce a valid choice, so a regime whose preferred strategy is not available degrades
to the first available strategy of ``FALLBACK_PREFERENCE`` instead of failing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trading_pipeline.domain.schema import KEY, StrategyName
from trading_pipeline.domain.strategies.base import format_values

SELECTION_COLUMNS = [*KEY, "strategy", "reason"]

# Trends are traded with the cross; everything else with RSI mean reversion, which also needs only
# 30 bars and so covers symbols too young for sma200.
REGIME_STRATEGY: dict[str, StrategyName] = {
    "trending_up": StrategyName.TREND_FOLLOWING,
    "trending_down": StrategyName.TREND_FOLLOWING,
    "ranging": StrategyName.MEAN_REVERSION,
    "volatile": StrategyName.MEAN_REVERSION,
    "insufficient_history": StrategyName.MEAN_REVERSION,
}

# Fallback order when a regime's strategy is unavailable: shortest history need first, then the
# trend rule, then the remaining strategies in declaration order.
FALLBACK_PREFERENCE: tuple[StrategyName, ...] = (
    StrategyName.MEAN_REVERSION,
    StrategyName.TREND_FOLLOWING,
    *(
        name
        for name in StrategyName
        if name not in (StrategyName.MEAN_REVERSION, StrategyName.TREND_FOLLOWING)
    ),
)


def select_strategies(context: pd.DataFrame, available: Sequence[str]) -> pd.DataFrame:
    """One strategy per context row, with the regime and features that decided it as the reason.

    Raises ValueError if no strategy of ``FALLBACK_PREFERENCE`` is available or a regime is unknown.
    """
    offered = {str(name) for name in available}
    fallback = next((str(name) for name in FALLBACK_PREFERENCE if str(name) in offered), None)
    if fallback is None:
        raise ValueError(f"none of the known strategies is available: {sorted(offered)}")
    regime = context["regime"].astype("str")
    unknown = sorted(set(regime.unique()) - set(REGIME_STRATEGY))
    if unknown:
        raise ValueError(f"unknown regimes: {unknown}")

    mapping = {regime_name: str(name) for regime_name, name in REGIME_STRATEGY.items()}
    preferred = regime.map(mapping)
    is_available = preferred.isin(offered)
    strategy = preferred.where(is_available, fallback)

    reason = regime + ": " + _features(context, regime)
    missing = ~is_available
    reason[missing] = reason[missing] + "; " + preferred[missing] + " unavailable, fallback " + fallback
    out = context[KEY].reset_index(drop=True)
    out["strategy"] = strategy.to_numpy()
    out["reason"] = reason.to_numpy()
    return out[SELECTION_COLUMNS]


def _features(context: pd.DataFrame, regime: pd.Series) -> pd.Series:
    """The features behind each row's regime, formatted only on the rows whose regime they decided.

    e.g. "adx14=31.2, sma50>sma200" for a trend; a ranging row shows the trend features (a weak ADX or
    no direction) and the volatility ratio (not a spike).
    """
    trending = regime.isin(["trending_up", "trending_down"])
    volatile = regime == "volatile"
    ranging = regime == "ranging"
    features = pd.Series("sma200 or adx14 undefined", index=context.index, dtype="str")
    trend_rows = trending | ranging
    direction = pd.Series(
        np.select(
            [context["trend_direction"][trend_rows] > 0, context["trend_direction"][trend_rows] < 0],
            ["sma50>sma200", "sma50<sma200"],
            default="sma50=sma200",
        ),
        index=context.index[trend_rows],
        dtype="str",
    )
    trend = "adx14=" + format_values(context["trend_strength"][trend_rows], 1) + ", " + direction
    vol = "volatility_ratio=" + format_values(context["volatility_ratio"][volatile | ranging], 2)
    features[trending] = trend
    features[volatile] = vol
    features[ranging] = trend + ", " + vol
    return features
