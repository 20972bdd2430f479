"""MomentumRotation: cross-sectionally rank the universe by 6-month momentum on each date."""

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
        values = roc.to_numpy(dtype="float64")
        count, from_top, from_bottom = _ranks_by_date(values, pd.factorize(panel["date"])[0])
        defined = ~np.isnan(values)
        enough = count >= MIN_RANKED
        top = enough & defined & (from_top * QUINTILES <= count)
        bottom = enough & defined & (from_bottom * QUINTILES <= count)
        buy = top & (values > 0)
        sell = bottom

        # Integers as text: one label per value; a rank never exceeds its date's count.
        numbers = text_table([str(n) for n in range(count.max(initial=0) + 1)])
        # The roc126 labels are those of all defined rows, as the reasons show them on part of them.
        roc_text = number_text(values[defined] * 100, 1, signed=True)
        slot = np.cumsum(defined) - 1
        verdicts = text_table(
            [
                ", not in the top or bottom quintile",
                ", top quintile but roc126 <= 0",
                " (top quintile)",
                " (bottom quintile)",
            ]
        )
        verdict = np.select([sell, buy, top], [3, 2, 1], 0)
        reason = reasons(
            panel.index,
            "roc126 undefined",
            [
                (
                    defined,
                    lambda rows: join(
                        "roc126=",
                        roc_text.take(slot[rows]),
                        "% ranked ",
                        numbers.take(from_top[rows]),
                        "/",
                        numbers.take(count[rows]),
                        verdicts.take(verdict[rows]),
                    ),
                ),
                (
                    ~enough,
                    lambda rows: join(
                        "only ", numbers.take(count[rows]), f" symbols ranked by roc126 on this date (< {MIN_RANKED})"
                    ),
                ),
            ],
        )
        return atr_signals(panel, buy, sell, confidence_ramp(roc.abs(), FULL_CONFIDENCE_ROC), reason)


def _ranks_by_date(roc: np.ndarray, date: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: how many rows of its date have a defined roc126, and how many of those have a roc126 >=
    (``from_top``) and <= (``from_bottom``) its own, i.e. ranks with ties at their worst position; ranks
    are 0 where roc126 is NaN. One sort by (date, roc126) for all three."""
    order = np.lexsort((roc, date))  # NaN last within its date
    value, day = roc[order], date[order]
    position = np.arange(len(order))
    new_day = np.r_[True, day[1:] != day[:-1]]
    day_start = np.maximum.accumulate(np.where(new_day, position, 0)) if len(order) else position
    defined = ~np.isnan(value)
    count = np.bincount(np.cumsum(new_day) - 1, weights=defined)[np.cumsum(new_day) - 1].astype("int64")
    # Runs of equal values within a date (each NaN is a run of its own and is not ranked).
    new_run = new_day | np.r_[True, value[1:] != value[:-1]]
    starts = np.flatnonzero(new_run)
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    run_end = np.repeat(np.r_[starts[1:], len(order)] - 1, np.diff(np.r_[starts, len(order)]))
    ranked, from_top, from_bottom = (np.zeros(len(order), dtype="int64") for _ in range(3))
    ranked[order] = count
    from_top[order] = np.where(defined, day_start + count - run_start, 0)
    from_bottom[order] = np.where(defined, run_end - day_start + 1, 0)
    return ranked, from_top, from_bottom
