"""SectorRotation: buy the strongest sector by mean 6-month momentum, sell the weakest."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

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

MIN_SECTORS = 2
UNKNOWN_SECTOR_PREFIX = "unknown:"
# |sector mean roc126| at which a signal gets full confidence.
FULL_CONFIDENCE_ROC = 0.5


class SectorRotation(Strategy):
    """On each date, sector momentum = mean roc126 of the sector's symbols with a defined roc126. BUY
    the symbols of the top-ranked sector whose own roc126 > 0; SELL the symbols of the bottom-ranked
    sector. A date with fewer than ``MIN_SECTORS`` sectors with a momentum is a HOLD with that reason.

    ``sectors`` maps symbol → sector; a symbol without one is its own bucket "unknown:<SYMBOL>". The top
    (bottom) sector must be strictly above (below) every other sector: sectors tied for first (last)
    place give no signal. Only rows dated D enter the ranking of D. Confidence grows with |sector mean
    roc126| (0 → 0.3, ``FULL_CONFIDENCE_ROC`` → 1).
    """

    name = StrategyName.SECTOR_ROTATION
    min_history = 126

    def __init__(self, sectors: Mapping[str, str] = MappingProxyType({})) -> None:
        self.sectors: Mapping[str, str] = MappingProxyType(dict(sectors))

    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        roc = panel["roc126"]
        values = roc.to_numpy(dtype="float64")
        symbol, symbols = pd.factorize(panel["symbol"])
        names = [str(self.sectors[s]) if s in self.sectors else UNKNOWN_SECTOR_PREFIX + str(s) for s in symbols]
        sector_of_symbol, sector_names = pd.factorize(pd.Series(names, dtype="str"))
        sector = sector_of_symbol[symbol]
        # One group per (date, sector); integer keys, but the same groups and rows as grouping by the labels.
        date = pd.factorize(panel["date"])[0]
        group = pd.factorize(date * len(sector_names) + sector)[0]
        momentum = roc.groupby(group, sort=False).transform("mean")

        # One row per (date, sector) with a defined momentum, ranked within its date.
        group_momentum = np.full(group.max(initial=-1) + 1, np.nan)
        group_momentum[group] = momentum.to_numpy()
        group_date = np.zeros(len(group_momentum), dtype="int64")
        group_date[group] = date
        listed = np.flatnonzero(~np.isnan(group_momentum))
        by_date = pd.Series(group_momentum[listed]).groupby(group_date[listed], sort=False)
        sectors_of_group = np.zeros(len(group_momentum), dtype="int64")
        sectors_of_group[listed] = by_date.transform("count").to_numpy()
        top_group = np.zeros(len(group_momentum), dtype=bool)
        top_group[listed] = by_date.rank(ascending=False, method="max").to_numpy() == 1
        bottom_group = np.zeros(len(group_momentum), dtype=bool)
        bottom_group[listed] = by_date.rank(ascending=True, method="max").to_numpy() == 1

        sectors = sectors_of_group[group]
        enough = sectors >= MIN_SECTORS
        has_roc = roc.notna().to_numpy()
        top = enough & top_group[group] & has_roc
        bottom = enough & bottom_group[group] & has_roc
        buy = top & (values > 0)
        sell = bottom

        defined = has_roc & momentum.notna().to_numpy()
        # The number labels are those of all defined rows, as the reasons show them on part of them.
        slot = np.cumsum(defined) - 1
        momentum_text = number_text(momentum.to_numpy()[defined] * 100, 1, signed=True)
        roc_text = number_text(values[defined] * 100, 1, signed=True)
        sector_text = text_table(list(sector_names))
        numbers = text_table([str(n) for n in range(sectors.max(initial=0) + 1)])
        verdicts = text_table(
            [
                ": sector neither strictly top nor bottom",
                ": top sector but roc126 <= 0",
                ": top sector",
                ": bottom sector",
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
                        "sector ",
                        sector_text.take(sector[rows]),
                        " mean roc126 ",
                        momentum_text.take(slot[rows]),
                        "% among ",
                        numbers.take(sectors[rows]),
                        " sectors; roc126 ",
                        roc_text.take(slot[rows]),
                        "%",
                        verdicts.take(verdict[rows]),
                    ),
                ),
                (
                    has_roc & ~enough,
                    lambda rows: join(
                        "only ", numbers.take(sectors[rows]), f" sectors with a momentum on this date (< {MIN_SECTORS})"
                    ),
                ),
            ],
        )
        return atr_signals(panel, buy, sell, confidence_ramp(momentum.abs(), FULL_CONFIDENCE_ROC), reason)
