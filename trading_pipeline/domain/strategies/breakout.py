"""Breakout: trade a close beyond the Donchian channel of the previous 20 bars."""

from __future__ import annotations

import pandas as pd

from trading_pipeline.domain.schema import StrategyName
from trading_pipeline.domain.strategies.base import Strategy, atr_signals, confidence_ramp, join, number_text, reasons

# Distance of the close beyond the channel, in ATRs, at which a breakout gets full confidence.
FULL_CONFIDENCE_ATRS = 2.0


class Breakout(Strategy):
    """BUY when close > donchian_high20, SELL when close < donchian_low20, strictly.

    The channel is that of the previous 20 bars (today's bar excluded), so a close exactly at the
    channel edge is a HOLD. Confidence grows with the distance beyond the edge in ATRs (0 → 0.3,
    ``FULL_CONFIDENCE_ATRS`` → 1).
    """

    name = StrategyName.BREAKOUT
    min_history = 20

    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        close, high, low = panel["close"], panel["donchian_high20"], panel["donchian_low20"]
        buy, sell = close > high, close < low
        excess = ((close - high) / panel["atr14"]).where(buy, (low - close) / panel["atr14"])

        c, hi, lo = (s.to_numpy(dtype="float64") for s in (close, high, low))
        reason = reasons(
            panel.index,
            "close within the 20-bar donchian channel",
            [
                (
                    buy,
                    lambda rows: join(
                        "close ", number_text(c[rows], 2), " > donchian_high20 ", number_text(hi[rows], 2)
                    ),
                ),
                (
                    sell,
                    lambda rows: join(
                        "close ", number_text(c[rows], 2), " < donchian_low20 ", number_text(lo[rows], 2)
                    ),
                ),
            ],
        )
        return atr_signals(panel, buy, sell, confidence_ramp(excess, FULL_CONFIDENCE_ATRS), reason)
