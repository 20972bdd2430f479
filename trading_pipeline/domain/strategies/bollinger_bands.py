"""BollingerBands: fade a close outside the 20-bar, 2-standard-deviation Bollinger bands."""

from __future__ import annotations

import pandas as pd

from trading_pipeline.domain.schema import StrategyName
from trading_pipeline.domain.strategies.base import Strategy, atr_signals, confidence_ramp, join, number_text, reasons

# Standard deviations beyond the band (z = 3 for 2-sigma bands) at which a signal gets full confidence.
FULL_CONFIDENCE_STDS = 1.0


class BollingerBands(Strategy):
    """BUY when close < bb_lower, SELL when close > bb_upper, strictly (a close on a band is a HOLD).

    A mean-reversion rule: a close below the lower band is expected to revert up. Confidence grows with
    the distance beyond the band in standard deviations of the bands (half the mid-to-band distance):
    0.3 at the band, 1 at ``FULL_CONFIDENCE_STDS`` beyond it.
    """

    name = StrategyName.BOLLINGER_BANDS
    min_history = 20

    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        close, lower, upper = panel["close"], panel["bb_lower"], panel["bb_upper"]
        buy, sell = close < lower, close > upper
        std = (upper - lower) / 4.0
        excess = ((lower - close) / std).where(buy, (close - upper) / std)

        c, lo, up = (s.to_numpy(dtype="float64") for s in (close, lower, upper))
        reason = reasons(
            panel.index,
            "close within the bollinger bands",
            [
                (buy, lambda rows: join("close ", number_text(c[rows], 2), " < bb_lower ", number_text(lo[rows], 2))),
                (sell, lambda rows: join("close ", number_text(c[rows], 2), " > bb_upper ", number_text(up[rows], 2))),
            ],
        )
        return atr_signals(panel, buy, sell, confidence_ramp(excess, FULL_CONFIDENCE_STDS), reason)
