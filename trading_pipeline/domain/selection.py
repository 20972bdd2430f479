"""Deterministic market context → strategy policy: the offline default and every LLM selector's fallback.

The policy is an ordered rule table per regime (first match wins), so each of the ten strategies has the
market it is built for and the reason printed for a row names the features that decided it:

- ``insufficient_history`` (no sma200/ADX yet) → MeanReversion, the shortest history need (30 bars).
- ``volatile``: a spike with a strong 20-day move (|roc20| >= ``volatile_momentum``) → VolatilityBreakout
  (an expansion with direction); a spike without direction → BollingerBands (fade the band extremes).
- ``trending_up`` / ``trending_down``:
  volume_ratio >= ``breakout_volume`` → Breakout (a trend move confirmed by volume);
  ADX >= ``strong_adx`` → MomentumRotation (the strongest trends: rank by 6-month momentum);
  roc20 in the trend's direction → DualMomentum (absolute and relative momentum both confirm);
  otherwise → TrendFollowing (short-term momentum fades: let the MA50/MA200 cross decide).
- ``ranging``: ADX < ``flat_adx`` → MovingAverageEnvelope (no trend at all: revert to MA50 inside bands);
  roc20 >= ``drift`` → RelativeStrength (drifting up: trade strength against the benchmark);
  roc20 <= -``drift`` → SectorRotation (drifting down: rotate by sector momentum);
  otherwise → MeanReversion (RSI 30/70).

It must always produce a valid choice, so a strategy that is not available degrades to the first
available strategy of ``FALLBACK_PREFERENCE`` instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trading_pipeline.domain.context import REGIMES
from trading_pipeline.domain.schema import KEY, StrategyName
from trading_pipeline.domain.strategies.base import format_values

SELECTION_COLUMNS = [*KEY, "strategy", "reason"]

# Fallback order when the policy's strategy is unavailable: shortest history need first, then the
# trend rule, then the remaining strategies in declaration order.
FALLBACK_PREFERENCE: tuple[StrategyName, ...] = (
    StrategyName.MEAN_REVERSION,
    StrategyName.TREND_FOLLOWING,
    *(name for name in StrategyName if name not in (StrategyName.MEAN_REVERSION, StrategyName.TREND_FOLLOWING)),
)


@dataclass(frozen=True)
class SelectionThresholds:
    """Boundaries of the rule table (see the module docstring); momentum is roc20 as a fraction."""

    volatile_momentum: float = 0.10
    breakout_volume: float = 1.5
    strong_adx: float = 40.0
    flat_adx: float = 15.0
    drift: float = 0.05


type Reason = Callable[[pd.DataFrame], pd.Series]


def policy_rules(
    context: pd.DataFrame, thresholds: SelectionThresholds
) -> list[tuple[pd.Series, StrategyName, Reason]]:
    """The ordered (condition, strategy, reason) rules; every row matches at least the last one. A reason
    is built only for the rows its rule decided (formatting every row for every rule is the slow part).

    One table read top to bottom (the README's rule table, line for line): it stays one function, longer than the
    others, because the order of its entries is the policy."""
    regime = context["regime"].astype("str")
    adx, direction = context["trend_strength"], context["trend_direction"]
    volume, momentum = context["volume_ratio"], context["momentum"]
    t = thresholds
    trending = regime.isin(["trending_up", "trending_down"])
    volatile = regime == "volatile"
    ranging = regime == "ranging"
    with_momentum = (np.sign(momentum) == direction) & (direction != 0)

    def show(label: str, values: pd.Series, decimals: int, signed: bool = False) -> pd.Series:
        return label + "=" + format_values(values, decimals, signed)

    def adx_text(c: pd.DataFrame) -> pd.Series:
        return show("adx14", c["trend_strength"], 1)

    def roc_text(c: pd.DataFrame) -> pd.Series:
        return show("roc20", c["momentum"] * 100, 1, signed=True) + "%"

    def vol_text(c: pd.DataFrame) -> pd.Series:
        return show("volatility_ratio", c["volatility_ratio"], 2)

    def direction_text(c: pd.DataFrame) -> pd.Series:
        d = c["trend_direction"]
        labels = np.select([d > 0, d < 0], ["sma50>sma200", "sma50<sma200"], "sma50=sma200")
        return pd.Series(labels, index=c.index, dtype="str")

    def head(c: pd.DataFrame) -> pd.Series:
        return c["regime"].astype("str") + ": "

    def trend_head(c: pd.DataFrame) -> pd.Series:
        return head(c) + adx_text(c) + ", " + direction_text(c)

    return [
        (
            regime == "insufficient_history",
            StrategyName.MEAN_REVERSION,
            lambda c: head(c) + "sma200 or adx14 undefined",
        ),
        (
            volatile & (momentum.abs() >= t.volatile_momentum),
            StrategyName.VOLATILITY_BREAKOUT,
            lambda c: head(c) + vol_text(c) + ", |" + roc_text(c) + f"| >= {t.volatile_momentum:.0%}",
        ),
        (
            volatile,
            StrategyName.BOLLINGER_BANDS,
            lambda c: head(c) + vol_text(c) + ", |" + roc_text(c) + f"| < {t.volatile_momentum:.0%}",
        ),
        (
            trending & (volume >= t.breakout_volume),
            StrategyName.BREAKOUT,
            lambda c: trend_head(c) + ", " + show("volume_ratio", c["volume_ratio"], 2) + f" >= {t.breakout_volume:g}",
        ),
        (
            trending & (adx >= t.strong_adx),
            StrategyName.MOMENTUM_ROTATION,
            lambda c: trend_head(c) + f" (>= {t.strong_adx:g})",
        ),
        (
            trending & with_momentum,
            StrategyName.DUAL_MOMENTUM,
            lambda c: trend_head(c) + ", " + roc_text(c) + " with the trend",
        ),
        (trending, StrategyName.TREND_FOLLOWING, lambda c: trend_head(c) + ", " + roc_text(c) + " not with the trend"),
        (
            ranging & (adx < t.flat_adx),
            StrategyName.MOVING_AVERAGE_ENVELOPE,
            lambda c: head(c) + adx_text(c) + f" < {t.flat_adx:g}",
        ),
        (
            ranging & (momentum >= t.drift),
            StrategyName.RELATIVE_STRENGTH,
            lambda c: head(c) + adx_text(c) + ", " + roc_text(c) + f" >= +{t.drift:.0%}",
        ),
        (
            ranging & (momentum <= -t.drift),
            StrategyName.SECTOR_ROTATION,
            lambda c: head(c) + adx_text(c) + ", " + roc_text(c) + f" <= -{t.drift:.0%}",
        ),
        (
            ranging,
            StrategyName.MEAN_REVERSION,
            lambda c: head(c) + adx_text(c) + ", " + direction_text(c) + ", " + vol_text(c) + ", " + roc_text(c),
        ),
    ]


def select_strategies(
    context: pd.DataFrame, available: Sequence[str], thresholds: SelectionThresholds = SelectionThresholds()
) -> pd.DataFrame:
    """One strategy per context row, with the features that decided it as the reason.

    Raises ValueError if no strategy of ``FALLBACK_PREFERENCE`` is available or a regime is unknown.
    """
    offered = {str(name) for name in available}
    fallback = next((str(name) for name in FALLBACK_PREFERENCE if str(name) in offered), None)
    if fallback is None:
        raise ValueError(f"none of the known strategies is available: {sorted(offered)}")
    unknown = sorted(set(context["regime"].astype("str").unique()) - set(REGIMES))
    if unknown:
        raise ValueError(f"unknown regimes: {unknown}")

    rules = policy_rules(context, thresholds)
    decided_by = np.select([condition.to_numpy(dtype=bool) for condition, _, _ in rules], range(len(rules)), -1)
    preferred = pd.Series(
        np.asarray([str(name) for _, name, _ in rules], dtype=object)[decided_by], index=context.index, dtype="str"
    )
    reason = np.empty(len(context), dtype=object)
    for k, (_, _, text) in enumerate(rules):
        mine = decided_by == k
        if mine.any():
            reason[mine] = text(context[mine]).to_numpy(dtype=object)
    reason = pd.Series(reason, index=context.index, dtype="str")
    is_available = preferred.isin(offered)
    strategy = preferred.where(is_available, fallback)
    missing = ~is_available
    reason[missing] = reason[missing] + "; " + preferred[missing] + " unavailable, fallback " + fallback
    out = context[KEY].reset_index(drop=True)
    out["strategy"] = strategy.to_numpy()
    out["reason"] = reason.to_numpy()
    return out[SELECTION_COLUMNS]
