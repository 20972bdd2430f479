"""MeanReversion: fade RSI14 extremes, expecting a stretched price to revert."""

from __future__ import annotations

import pandas as pd

from trading_pipeline.domain.schema import StrategyName
from trading_pipeline.domain.strategies.base import Strategy, atr_signals, confidence_ramp, join, number_text, reasons

OVERSOLD = 30.0
OVERBOUGHT = 70.0
# RSI points beyond the band at which a signal gets full confidence (RSI 10 / 90).
FULL_CONFIDENCE_RSI_POINTS = 20.0


class MeanReversion(Strategy):
    """BUY when rsi14 < 30, SELL when rsi14 > 70, strictly (exactly 30 or 70 is a HOLD).

    Confidence grows linearly with the distance beyond the band: 0.3 at the band, 1 at
    ``FULL_CONFIDENCE_RSI_POINTS`` beyond it. Only 30 bars are needed (RSI14 is defined from bar 15).
    """

    name = StrategyName.MEAN_REVERSION
    min_history = 30

    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        rsi = panel["rsi14"]
        buy, sell = rsi < OVERSOLD, rsi > OVERBOUGHT
        excess = (OVERSOLD - rsi).where(buy, rsi - OVERBOUGHT)

        values = rsi.to_numpy(dtype="float64")
        reason = reasons(
            panel.index,
            f"rsi14 within [{OVERSOLD:g}, {OVERBOUGHT:g}]",
            [
                (buy, lambda rows: join("rsi14=", number_text(values[rows], 2), f" < {OVERSOLD:g} (oversold)")),
                (sell, lambda rows: join("rsi14=", number_text(values[rows], 2), f" > {OVERBOUGHT:g} (overbought)")),
            ],
        )
        return atr_signals(panel, buy, sell, confidence_ramp(excess, FULL_CONFIDENCE_RSI_POINTS), reason)
