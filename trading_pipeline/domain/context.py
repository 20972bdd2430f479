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
CONTEXT_COLUMNS = [*KEY, "trend_strength", "trend_direction", "volatility_ratio", "volume_ratio", "momentum", "regime"]


@dataclass(frozen=True)
class RegimeThresholds:
    """Regime boundaries, checked in this order.

    - ``insufficient_history``: sma200 or adx14 is not yet defined (fewer than 200 clean bars).
    - ``volatile``: volatility_ratio > ``volatile_ratio`` (precedence over trending: a trend signal in
      a volatility spike is unreliable).
    - ``trending_up`` / ``trending_down``: trend_strength (ADX14) > ``trending_adx`` and
      trend_direction +1 / -1. ADX measures how directional the market is, not which way, so the
      direction comes from the moving averages; 25 is Wilder's conventional "trending" level.
    - ``ranging``: otherwise, including a strong ADX with sma50 == sma200 (direction 0). A NaN
      volatility_ratio (under a year of ATR history) is never volatile.
    """

    trending_adx: float = 25.0
    volatile_ratio: float = 1.5


# The indicator columns market_context reads (besides date and symbol).
CONTEXT_INPUTS = ["close", "volume", "sma50", "sma200", "atr14", "adx14", "roc20", "volume_sma20"]


def market_context(indicators: pd.DataFrame, thresholds: RegimeThresholds = RegimeThresholds()) -> pd.DataFrame:
    """Context features and regime for every row of the indicators frame (same order, RangeIndex).

    - ``trend_strength`` = adx14, in [0, 100]: strength of the trend whatever its direction
    - ``trend_direction`` = sign(sma50 - sma200): +1, -1, or 0 when equal or either is NaN
    - ``volatility_ratio`` = (atr14 / close) / its trailing 252-bar median (today included), so 1.0 is
      the symbol's usual volatility and the ratio is comparable across symbols and price levels
    - ``volume_ratio`` = volume / volume_sma20
    - ``momentum`` = roc20
    """
    atr_pct = indicators["atr14"] / indicators["close"]
    baseline = atr_pct.groupby(indicators["symbol"], sort=False).rolling(VOLATILITY_BASELINE_BARS).median().droplevel(0)
    context = pd.DataFrame(
        {
            "date": indicators["date"],
            "symbol": indicators["symbol"],
            "trend_strength": indicators["adx14"],
            "trend_direction": np.sign(
                (indicators["sma50"] - indicators["sma200"]).fillna(0.0).to_numpy(dtype="float64")
            ).astype("int64"),
            "volatility_ratio": atr_pct / baseline,
            "volume_ratio": indicators["volume"] / indicators["volume_sma20"],
            "momentum": indicators["roc20"],
        }
    )
    trending = context["trend_strength"] > thresholds.trending_adx
    direction = context["trend_direction"]
    context["regime"] = np.select(
        [
            indicators["sma200"].isna() | indicators["adx14"].isna(),
            context["volatility_ratio"] > thresholds.volatile_ratio,
            trending & (direction == 1),
            trending & (direction == -1),
        ],
        ["insufficient_history", "volatile", "trending_up", "trending_down"],
        default="ranging",
    )
    return context[CONTEXT_COLUMNS].reset_index(drop=True)
