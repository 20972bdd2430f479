"""MomentumRotation: cross-sectionally rank the universe by 6-month momentum on each date."""

from __future__ import annotations

import pandas as pd

from trading_pipeline.domain.schema import StrategyName
from trading_pipeline.domain.strategies.base import Strategy, atr_signals, confidence_ramp, format_values

# Fewest symbols with a defined roc126 on a date for the ranking to mean anything (one per quintile).
MIN_RANKED = 5
QUINTILES = 5
# |roc126| at which a signal gets full confidence.
FULL_CONFIDENCE_ROC = 0.5


class MomentumRotation(Strategy):
    """On each date rank the symbols with a defined roc126; BUY the top quintile when roc126 > 0, SELL
    the bottom quintile. Dates with fewer than ``MIN_RANKED`` ranked symbols are HOLD with that reason.

    A symbol is in the top quintile iff at most n/5 of the n ranked symbols (itself included) have a
    roc126 >= its own (bottom mirrored with <=): ties are ranked at their worst position, so a tie across
    the quintile boundary is not a signal, and neither is roc126 exactly 0 for a BUY. The ranking uses
    only the rows dated D, so a date's signals depend on nothing later. Confidence grows with |roc126|
    (0 → 0.3, ``FULL_CONFIDENCE_ROC`` → 1).
    """

    name = StrategyName.MOMENTUM_ROTATION
    min_history = 126

    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        roc = panel["roc126"]
        by_date = roc.groupby(panel["date"], sort=False)
        ranked = by_date.transform("count")
        from_top = by_date.rank(ascending=False, method="max")
        from_bottom = by_date.rank(ascending=True, method="max")
        enough = ranked >= MIN_RANKED
        top = enough & (from_top * QUINTILES <= ranked)
        bottom = enough & (from_bottom * QUINTILES <= ranked)
        buy = top & (roc > 0)
        sell = bottom

        reason = pd.Series("", index=panel.index, dtype="str")
        defined = roc.notna()
        rank_text = pd.Series("", index=panel.index, dtype="str")
        rank_text[defined] = (
            "roc126=" + format_values(roc[defined] * 100, 1, signed=True) + "% ranked "
            + from_top[defined].astype("int64").astype(str) + "/" + ranked[defined].astype("int64").astype(str)
        )
        reason[defined] = rank_text[defined] + ", not in the top or bottom quintile"
        reason[top & ~buy] = rank_text[top & ~buy] + ", top quintile but roc126 <= 0"
        reason[buy] = rank_text[buy] + " (top quintile)"
        reason[sell] = rank_text[sell] + " (bottom quintile)"
        reason[~defined] = "roc126 undefined"
        few = ~enough
        reason[few] = (
            "only " + ranked[few].astype("int64").astype(str) + f" symbols ranked by roc126 on this date (< {MIN_RANKED})"
        )
        return atr_signals(panel, buy, sell, confidence_ramp(roc.abs(), FULL_CONFIDENCE_ROC), reason)
