"""DualMomentum: absolute (positive 6-month return) and relative (above the universe median) momentum."""

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

        verdicts = text_table(
            [
                ": positive but not above the median",
                ": no absolute momentum",
                ": absolute and relative momentum",
                ": negative absolute momentum",
            ]
        )
        verdict = np.select([sell, buy, roc == 0], [3, 2, 1], 0)
        values, medians = roc.to_numpy(dtype="float64") * 100, median.to_numpy(dtype="float64") * 100
        reason = reasons(
            panel.index,
            "roc126 undefined",
            [
                (
                    roc.notna(),
                    lambda rows: join(
                        "roc126=",
                        number_text(values[rows], 1, signed=True),
                        "%, median ",
                        number_text(medians[rows], 1, signed=True),
                        "%",
                        verdicts.take(verdict[rows]),
                    ),
                ),
            ],
        )
        return atr_signals(panel, buy, sell, confidence_ramp(roc.abs(), FULL_CONFIDENCE_ROC), reason)
