"""Market data: one interface, the offline replay of bundled real bars by default."""

from abc import abstractmethod
from datetime import date
from functools import lru_cache
from pathlib import Path

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.domain.bars import load_bars_file


class MarketData(ConfigurableResource):
    """Serves daily bars point-in-time: a request for [start, end] never returns a later bar."""

    symbols: list[str] | None = Field(
        default=None, description="Universe to trade (upper-case tickers); None means every symbol the provider has."
    )

    @abstractmethod
    def bars(self, start: date, end: date) -> pd.DataFrame:
        """Raw (unvalidated) bars of the universe with start <= date <= end, in schema.BAR_COLUMNS."""

    @property
    @abstractmethod
    def provider(self) -> str:
        """A short name for metadata and the journal."""


class ReplayMarketData(MarketData):
    """Replays a file of real daily bars (CSV or Parquet); the bundled 5-stock sample by default."""

    path: str | None = Field(default=None, description="Bars file; None means the bundled sample.")

    @property
    def provider(self) -> str:
        return f"replay:{Path(self.path).name if self.path else SAMPLE_BARS.name}"

    def bars(self, start: date, end: date) -> pd.DataFrame:
        frame = _load_cached(str(Path(self.path).resolve()) if self.path else str(SAMPLE_BARS))
        if self.symbols is not None:
            wanted = {s.upper() for s in self.symbols}
            unknown = sorted(wanted - set(frame["symbol"].unique()))
            if unknown:
                raise ValueError(f"{self.provider}: unknown symbols {', '.join(unknown)}")
            frame = frame[frame["symbol"].isin(wanted)]
        in_range = (frame["date"] >= pd.Timestamp(start)) & (frame["date"] <= pd.Timestamp(end))
        return frame[in_range].reset_index(drop=True)


@lru_cache(maxsize=4)
def _load_cached(path: str) -> pd.DataFrame:
    """Parsing a 600k-row CSV takes a second: do it once per process per file."""
    return load_bars_file(path)
