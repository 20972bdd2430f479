"""MeanReversion: fade RSI14 extremes, expecting a stretched price to revert."""

from __future__ import annotations

import pandas as pd

from trading_pipeline.domain.schema import StrategyName
from trading_pipeline.domain.strategies.base import Strategy, atr_signals, confidence_ramp, format_values

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

        reason = pd.Series(
            f"rsi14 within [{OVERSOLD:g}, {OVERBOUGHT:g}]", index=panel.index, dtype="str"
        )
        reason[buy] = "rsi14=" + format_values(rsi[buy], 2) + f" < {OVERSOLD:g} (oversold)"
        reason[sell] = "rsi14=" + format_values(rsi[sell], 2) + f" > {OVERBOUGHT:g} (overbought)"
        return atr_signals(panel, buy, sell, confidence_ramp(excess, FULL_CONFIDENCE_RSI_POINTS), reason)
