"""Column contracts shared by the pure domain code and the assets.

Every table in the pipeline is a long pandas DataFrame keyed by (``date``, ``symbol``) with ``date`` a
tz-naive ``datetime64[ns]`` session date, sorted by (symbol, date). Keeping the contracts in one place is
what lets the asset modules stay thin.
"""

from __future__ import annotations

from enum import StrEnum

KEY = ["date", "symbol"]
OHLCV = ["open", "high", "low", "close", "volume"]

# market_bars: OHLCV plus the quarantine verdict of the bar validation (never repaired in place).
BAR_COLUMNS = [*KEY, *OHLCV]
VALIDATED_BAR_COLUMNS = [*BAR_COLUMNS, "quarantined", "quarantine_reason"]

# signals / validated_signals
SIGNAL_COLUMNS = [*KEY, "strategy", "action", "confidence", "stop", "target", "reason"]


class Action(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class StrategyName(StrEnum):
    """The closed set of deterministic strategies; an LLM may only ever pick one of these."""

    TREND_FOLLOWING = "TrendFollowing"
    MOMENTUM_ROTATION = "MomentumRotation"
    MEAN_REVERSION = "MeanReversion"
    BREAKOUT = "Breakout"
    VOLATILITY_BREAKOUT = "VolatilityBreakout"
    RELATIVE_STRENGTH = "RelativeStrength"
    SECTOR_ROTATION = "SectorRotation"
    DUAL_MOMENTUM = "DualMomentum"
    MOVING_AVERAGE_ENVELOPE = "MovingAverageEnvelope"
    BOLLINGER_BANDS = "BollingerBands"
