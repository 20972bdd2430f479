"""TrendFollowing: trade the golden / death cross of the 50- and 200-bar simple moving averages."""

from __future__ import annotations

import pandas as pd

from trading_pipeline.domain.schema import StrategyName
from trading_pipeline.domain.strategies.base import (
    Strategy,
    atr_signals,
    confidence_ramp,
    join,
    number_text,
    reasons,
    text_table,
)

# Distance of the close beyond sma200, in ATRs, at which a cross gets full confidence.
FULL_CONFIDENCE_ATRS = 4.0


class TrendFollowing(Strategy):
    """MA50/MA200 cross, on the session the cross happens (not while the averages stay apart).

    A cross is strict: BUY on bar t iff ``sma50[t-1] <= sma200[t-1]`` and ``sma50[t] > sma200[t]``
    (SELL mirrored), t-1 being the symbol's previous clean bar. Hence a day with equal averages is never
    a signal itself, and the first bar strictly off a tie is one (above → BUY, below → SELL) whatever
    preceded the tie.

    On the cross day the averages are, by construction, nearly equal, so their gap says nothing; the
    confidence instead measures how far the close already is beyond sma200 in the signal's direction,
    in ATRs (0 → 0.3, ``FULL_CONFIDENCE_ATRS`` → 1).
    """

    name = StrategyName.TREND_FOLLOWING
    min_history = 200

    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        fast, slow = panel["sma50"], panel["sma200"]
        by_symbol = panel.groupby("symbol", sort=False)
        prev_fast, prev_slow = by_symbol["sma50"].shift(1), by_symbol["sma200"].shift(1)
        buy = (prev_fast <= prev_slow) & (fast > slow)
        sell = (prev_fast >= prev_slow) & (fast < slow)

        separation = (panel["close"] - slow) / panel["atr14"]
        excess = separation.where(buy, -separation)

        up, gap = buy.to_numpy(), separation.to_numpy(dtype="float64")
        reason = reasons(
            panel.index,
            "no sma50/sma200 cross",
            [
                (
                    buy | sell,
                    lambda rows: join(
                        "sma50 crossed ",
                        text_table(["below", "above"]).take(up[rows].astype("int64")),
                        " sma200; close ",
                        number_text(gap[rows], 1, signed=True),
                        " ATR from sma200",
                    ),
                ),
            ],
        )
        return atr_signals(panel, buy, sell, confidence_ramp(excess, FULL_CONFIDENCE_ATRS), reason)
