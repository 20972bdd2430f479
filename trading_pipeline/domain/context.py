"""Market context per (date, symbol): a few normalized features and a coarse regime label.

The regime is what the deterministic selection policy (and the LLM, as a hint) uses to choose a
strategy, so its thresholds live in one frozen dataclass rather than being scattered as literals.
Every feature is point-in-time: it uses only the symbol's indicator rows up to that date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trading_pipeline.domain.schema import KEY

# Trailing window (bars) of the volatility baseline: about one year of sessions, full window required.
VOLATILITY_BASELINE_BARS = 252

REGIMES = ("trending_up", "trending_down", "ranging", "volatile", "insufficient_history")
CONTEXT_COLUMNS = [*KEY, "trend_strength", "volatility_ratio", "volume_ratio", "momentum", "regime"]


@dataclass(frozen=True)
class RegimeThresholds:
    """Regime boundaries, checked in this order.

    - ``insufficient_history``: sma200 is not yet defined (fewer than 200 clean bars).
    - ``volatile``: volatility_ratio > ``volatile_ratio`` (precedence over trending: a trend signal in
      a volatility spike is unreliable).
    - ``trending_up`` / ``trending_down``: trend_strength > ``trend_strength`` / < -``trend_strength``.
    - ``ranging``: otherwise. A NaN volatility_ratio (under a year of ATR history) is never volatile.
    """

    trend_strength: float = 0.05
    volatile_ratio: float = 1.5


def market_context(
    indicators: pd.DataFrame, thresholds: RegimeThresholds = RegimeThresholds()
) -> pd.DataFrame:
    """Context features and regime for every row of the indicators frame (same order, RangeIndex).

    - ``trend_strength`` = (sma50 - sma200) / sma200
    - ``volatility_ratio`` = (atr14 / close) / its trailing 252-bar median (today included), so 1.0 is
      the symbol's usual volatility and the ratio is comparable across symbols and price levels
    - ``volume_ratio`` = volume / volume_sma20
    - ``momentum`` = roc20
    """
    atr_pct = indicators["atr14"] / indicators["close"]
    baseline = (
        atr_pct.groupby(indicators["symbol"], sort=False)
        .rolling(VOLATILITY_BASELINE_BARS)
        .median()
        .droplevel(0)
    )
    context = pd.DataFrame(
        {
            "date": indicators["date"],
            "symbol": indicators["symbol"],
            "trend_strength": (indicators["sma50"] - indicators["sma200"]) / indicators["sma200"],
            "volatility_ratio": atr_pct / baseline,
            "volume_ratio": indicators["volume"] / indicators["volume_sma20"],
            "momentum": indicators["roc20"],
        }
    )
    trend = context["trend_strength"]
    context["regime"] = np.select(
        [
            indicators["sma200"].isna(),
            context["volatility_ratio"] > thresholds.volatile_ratio,
            trend > thresholds.trend_strength,
            trend < -thresholds.trend_strength,
        ],
        ["insufficient_history", "volatile", "trending_up", "trending_down"],
        default="ranging",
    )
    return context[CONTEXT_COLUMNS].reset_index(drop=True)
