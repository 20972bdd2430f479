"""MovingAverageEnvelope: fade a close crossing out of a ±5% envelope around the 50-bar average."""

from __future__ import annotations

import pandas as pd

from trading_pipeline.domain.schema import StrategyName
from trading_pipeline.domain.strategies.base import Strategy, atr_signals, confidence_ramp, join, number_text, reasons

DEFAULT_BAND_WIDTH = 0.05
# Distance of the close beyond the band, in ATRs, at which a cross gets full confidence.
FULL_CONFIDENCE_ATRS = 2.0


class MovingAverageEnvelope(Strategy):
    """Bands sma50·(1 ± width); BUY on the bar the close crosses below the lower band, SELL on the bar
    it crosses above the upper band (mean-reversion entries).

    A cross is strict: BUY on bar t iff ``close[t-1] >= lower[t-1]`` and ``close[t] < lower[t]`` (SELL
    mirrored with the upper band), t-1 being the symbol's previous clean bar; a close on the band is
    not a cross, and staying outside is not a new one. Confidence grows with the close's distance
    beyond the band in ATRs (0 → 0.3, ``FULL_CONFIDENCE_ATRS`` → 1).
    """

    name = StrategyName.MOVING_AVERAGE_ENVELOPE
    min_history = 50

    def __init__(self, band_width: float = DEFAULT_BAND_WIDTH) -> None:
        if not 0.0 < band_width < 1.0:
            raise ValueError(f"band_width must be in (0, 1), got {band_width}")
        self.band_width = band_width

    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        close = panel["close"]
        lower = panel["sma50"] * (1.0 - self.band_width)
        upper = panel["sma50"] * (1.0 + self.band_width)
        by_symbol = panel["symbol"]
        prev_close = close.groupby(by_symbol, sort=False).shift(1)
        prev_lower = lower.groupby(by_symbol, sort=False).shift(1)
        prev_upper = upper.groupby(by_symbol, sort=False).shift(1)
        buy = (prev_close >= prev_lower) & (close < lower)
        sell = (prev_close <= prev_upper) & (close > upper)
        excess = ((lower - close) / panel["atr14"]).where(buy, (close - upper) / panel["atr14"])

        pct = f"{self.band_width * 100:g}%"
        c, lo, up = (s.to_numpy(dtype="float64") for s in (close, lower, upper))
        reason = reasons(
            panel.index,
            f"no cross of the sma50 ±{pct} envelope",
            [
                (
                    buy,
                    lambda rows: join(
                        "close ",
                        number_text(c[rows], 2),
                        f" crossed below the sma50 -{pct} band ",
                        number_text(lo[rows], 2),
                    ),
                ),
                (
                    sell,
                    lambda rows: join(
                        "close ",
                        number_text(c[rows], 2),
                        f" crossed above the sma50 +{pct} band ",
                        number_text(up[rows], 2),
                    ),
                ),
            ],
        )
        return atr_signals(panel, buy, sell, confidence_ramp(excess, FULL_CONFIDENCE_ATRS), reason)
