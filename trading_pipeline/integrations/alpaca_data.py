"""Alpaca market data (alpaca-py StockHistoricalDataClient): daily and intraday bars, IEX feed by default.

Daily bars come adjusted for splits and dividends (``adjustment="all"``), like the bundled replay data,
and stamped at midnight New York time; they are returned as tz-naive session dates in schema.BAR_COLUMNS.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

from trading_pipeline.domain.schema import OHLCV
from trading_pipeline.integrations.alpaca_client import GovernedDataClient
from trading_pipeline.integrations.bar_cache import BarCache
from trading_pipeline.integrations.fetch import ProviderBars, empty_bars, fetch_with_cache

NEW_YORK = ZoneInfo("America/New_York")


def _frame(barset, symbols: Sequence[str]) -> pd.DataFrame:
    rows = [
        (bar.timestamp, symbol, bar.open, bar.high, bar.low, bar.close, bar.volume)
        for symbol in symbols
        for bar in barset.data.get(symbol, [])
    ]
    return pd.DataFrame(rows, columns=["timestamp", "symbol", *OHLCV])


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def fetch_daily_bars(
    client: GovernedDataClient,
    symbols: Sequence[str],
    start: date,
    end: date,
    feed: str = "iex",
    adjustment: str = "all",
    cache: BarCache | None = None,
    symbols_per_request: int = 100,
) -> ProviderBars:
    """Daily bars with start <= session <= end; each request covers up to ``symbols_per_request`` symbols."""
    request = {
        "provider": "alpaca",
        "timeframe": "1Day",
        "feed": feed,
        "adjustment": adjustment,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }

    def fetch(todo: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
        frames = []
        for chunk in _chunks(todo, symbols_per_request):
            barset = client.get_stock_bars(
                StockBarsRequest(
                    symbol_or_symbols=chunk,
                    timeframe=TimeFrame.Day,
                    start=datetime.combine(start, time(0), NEW_YORK),
                    end=datetime.combine(end + timedelta(days=1), time(0), NEW_YORK) - timedelta(seconds=1),
                    feed=DataFeed(feed),
                    adjustment=Adjustment(adjustment),
                )
            )
            frames.append(_frame(barset, chunk))
        raw = pd.concat(frames, ignore_index=True)
        if raw.empty:
            return empty_bars(), {}
        local = pd.to_datetime(raw.pop("timestamp"), utc=True).dt.tz_convert(NEW_YORK)
        not_midnight = local != local.dt.normalize()
        if not_midnight.any():
            bad = raw[not_midnight].iloc[0]
            raise ValueError(
                f"Alpaca daily bar of {bad['symbol']} is stamped {local[not_midnight].iloc[0]}, not at a New York "
                "midnight: not a session bar"
            )
        raw.insert(0, "date", local.dt.tz_localize(None).astype("datetime64[ns]"))
        return raw.astype(dict.fromkeys(OHLCV, "float64")), {}

    return fetch_with_cache([s.upper() for s in symbols], request, cache, fetch)


def fetch_intraday_bars(
    client: GovernedDataClient,
    symbols: Sequence[str],
    start: datetime,
    end: datetime,
    minutes: int = 15,
    feed: str = "iex",
) -> pd.DataFrame:
    """Intraday bars (``timestamp`` tz-aware New York, symbol, OHLCV); the bar's time is its start."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("intraday start and end must be time-zone aware")
    barset = client.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=[s.upper() for s in symbols],
            timeframe=TimeFrame(minutes, TimeFrameUnit.Minute),
            start=start,
            end=end,
            feed=DataFeed(feed),
        )
    )
    frame = _frame(barset, [s.upper() for s in symbols])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_convert(NEW_YORK)
    return frame.astype(dict.fromkeys(OHLCV, "float64")).sort_values(["symbol", "timestamp"], ignore_index=True)
