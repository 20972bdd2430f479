"""SectorRotation: buy the strongest sector by mean 6-month momentum, sell the weakest."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pandas as pd

from trading_pipeline.domain.schema import StrategyName
from trading_pipeline.domain.strategies.base import Strategy, atr_signals, confidence_ramp, format_values

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
        sector = panel["symbol"].map(dict(self.sectors)).astype("str")
        sector = sector.where(panel["symbol"].isin(list(self.sectors)), UNKNOWN_SECTOR_PREFIX + panel["symbol"])
        momentum = roc.groupby([panel["date"], sector], sort=False).transform("mean")

        # One row per (date, sector) with a defined momentum, ranked within its date.
        table = (
            pd.DataFrame({"date": panel["date"], "sector": sector, "momentum": momentum})
            .dropna(subset=["momentum"])
            .drop_duplicates(["date", "sector"])
        )
        by_date = table.groupby("date", sort=False)["momentum"]
        table["sectors"] = by_date.transform("count")
        table["top"] = by_date.rank(ascending=False, method="max") == 1
        table["bottom"] = by_date.rank(ascending=True, method="max") == 1
        ranked = panel[["date"]].assign(sector=sector).merge(table, on=["date", "sector"], how="left")
        ranked.index = panel.index
        sectors = ranked["sectors"].fillna(0).astype("int64")
        enough = sectors >= MIN_SECTORS
        top = enough & ranked["top"].fillna(False).astype(bool) & roc.notna()
        bottom = enough & ranked["bottom"].fillna(False).astype(bool) & roc.notna()
        buy = top & (roc > 0)
        sell = bottom

        defined = roc.notna() & momentum.notna()
        text = pd.Series("", index=panel.index, dtype="str")
        text[defined] = (
            "sector " + sector[defined] + " mean roc126 " + format_values(momentum[defined] * 100, 1, signed=True)
            + "% among " + sectors[defined].astype(str) + " sectors; roc126 "
            + format_values(roc[defined] * 100, 1, signed=True) + "%"
        )
        reason = pd.Series("roc126 undefined", index=panel.index, dtype="str")
        reason[defined] = text[defined] + ": sector neither strictly top nor bottom"
        reason[top & ~buy] = text[top & ~buy] + ": top sector but roc126 <= 0"
        reason[buy] = text[buy] + ": top sector"
        reason[sell] = text[sell] + ": bottom sector"
        few = roc.notna() & ~enough
        reason[few] = (
            "only " + sectors[few].astype(str) + f" sectors with a momentum on this date (< {MIN_SECTORS})"
        )
        return atr_signals(panel, buy, sell, confidence_ramp(momentum.abs(), FULL_CONFIDENCE_ROC), reason)
