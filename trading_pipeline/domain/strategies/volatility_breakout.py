"""VolatilityBreakout: trade a range expansion in the direction of the day's close-to-close move."""

from __future__ import annotations

import numpy as np
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

# A day is an expansion when its true range exceeds this multiple of the previous bar's atr14.
EXPANSION_ATRS = 1.5
# True range beyond the expansion threshold, in previous ATRs, at which a signal gets full confidence.
FULL_CONFIDENCE_ATRS = 1.5


class VolatilityBreakout(Strategy):
    """BUY when TR[t] > 1.5·atr14[t-1] and close[t] > close[t-1]; SELL on the same expansion with
    close[t] < close[t-1]. Every comparison is strict: a true range of exactly 1.5 ATR, or an unchanged
    close, is a HOLD.

    The true range, max(high, close[t-1]) - min(low, close[t-1]), is computed here from the panel's OHLC;
    t-1 is the symbol's previous clean bar (the first bar has none, so it is never a signal). Confidence
    grows with TR/atr14[t-1] from 0.3 at 1.5 to 1 at 3.
    """

    name = StrategyName.VOLATILITY_BREAKOUT
    min_history = 20

    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        by_symbol = panel.groupby("symbol", sort=False)
        prev_close, prev_atr = by_symbol["close"].shift(1), by_symbol["atr14"].shift(1)
        close = panel["close"]
        true_range = pd.Series(
            np.fmax(panel["high"], prev_close) - np.fmin(panel["low"], prev_close), index=panel.index
        )
        multiple = true_range / prev_atr
        expansion = multiple > EXPANSION_ATRS
        buy = expansion & (close > prev_close)
        sell = expansion & (close < prev_close)

        up, span, ratio = buy.to_numpy(), true_range.to_numpy(dtype="float64"), multiple.to_numpy(dtype="float64")
        reason = reasons(
            panel.index,
            f"no range expansion above {EXPANSION_ATRS:g} x previous atr14",
            [
                (expansion, "range expansion with an unchanged close"),
                (
                    buy | sell,
                    lambda rows: join(
                        "true range ",
                        number_text(span[rows], 2),
                        " = ",
                        number_text(ratio[rows], 2),
                        f" x previous atr14 > {EXPANSION_ATRS:g}; close ",
                        text_table(["down", "up"]).take(up[rows].astype("int64")),
                    ),
                ),
            ],
        )
        return atr_signals(panel, buy, sell, confidence_ramp(multiple - EXPANSION_ATRS, FULL_CONFIDENCE_ATRS), reason)
