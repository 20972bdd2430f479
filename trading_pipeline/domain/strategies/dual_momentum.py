"""DualMomentum: absolute (positive 6-month return) and relative (above the universe median) momentum."""

from __future__ import annotations

import pandas as pd

from trading_pipeline.domain.schema import StrategyName
from trading_pipeline.domain.strategies.base import Strategy, atr_signals, confidence_ramp, format_values

# |roc126| at which a signal gets full confidence.
FULL_CONFIDENCE_ROC = 0.5


class DualMomentum(Strategy):
    """BUY when roc126 > 0 and roc126 > the cross-sectional median roc126 of that date; SELL when
    roc126 < 0; otherwise HOLD. All comparisons strict: roc126 exactly 0, or exactly the median, is not
    a BUY (a lone symbol is its own median, so it can only ever SELL).

    The median is over the symbols with a defined roc126 on the date, using only rows dated D.
    Confidence grows with |roc126| (0 → 0.3, ``FULL_CONFIDENCE_ROC`` → 1).
    """

    name = StrategyName.DUAL_MOMENTUM
    min_history = 126

    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        roc = panel["roc126"]
        median = roc.groupby(panel["date"], sort=False).transform("median")
        buy = (roc > 0) & (roc > median)
        sell = roc < 0

        defined = roc.notna()
        text = pd.Series("", index=panel.index, dtype="str")
        text[defined] = (
            "roc126=" + format_values(roc[defined] * 100, 1, signed=True) + "%, median "
            + format_values(median[defined] * 100, 1, signed=True) + "%"
        )
        reason = pd.Series("roc126 undefined", index=panel.index, dtype="str")
        reason[defined] = text[defined] + ": positive but not above the median"
        reason[defined & (roc == 0)] = text[defined & (roc == 0)] + ": no absolute momentum"
        reason[buy] = text[buy] + ": absolute and relative momentum"
        reason[sell] = text[sell] + ": negative absolute momentum"
        return atr_signals(panel, buy, sell, confidence_ramp(roc.abs(), FULL_CONFIDENCE_ROC), reason)
