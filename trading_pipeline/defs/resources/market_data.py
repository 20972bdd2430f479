"""Market data: one interface, the offline replay of bundled real bars by default, Alpaca and yfinance behind it.

Every provider answers ``fetch(symbols, start, end)`` with the bars it has and, per symbol it cannot serve,
why. ``FallbackMarketData`` walks an ordered chain of providers symbol by symbol and records which provider
served which symbol and every fallback taken, for the ``market_bars`` metadata and the journal.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pandas as pd
from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.defs.resources.alpaca_keys import AlpacaKeys
from trading_pipeline.domain.bars import BarsFileError, load_bars_file
from trading_pipeline.integrations import alpaca_data, yfinance_data
from trading_pipeline.integrations.alpaca_client import (
    AlpacaRequestError,
    AlpacaSettings,
    GovernedDataClient,
    RetryPolicy,
)
from trading_pipeline.integrations.bar_cache import BarCache
from trading_pipeline.integrations.fetch import NO_BARS, ProviderBars, empty_bars
from trading_pipeline.integrations.yfinance_data import YFinanceUnavailable

log = logging.getLogger(__name__)

# What a provider may fail with; the chain records it and asks the next provider. Anything else is a bug.
PROVIDER_ERRORS = (AlpacaRequestError, YFinanceUnavailable, BarsFileError, OSError, ValueError)


@dataclass(frozen=True)
class BarsDelivery:
    """Bars plus their provenance: the provider of each symbol, the fallbacks taken, the symbols nobody had."""

    bars: pd.DataFrame
    served_by: dict[str, str]
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    unserved: dict[str, str] = field(default_factory=dict)


class MarketData(ConfigurableResource):
    """Serves daily bars point-in-time: a request for [start, end] never returns a later bar."""

    symbols: list[str] | None = Field(
        default=None, description="Universe to trade (upper-case tickers); None means every symbol the provider has."
    )

    @property
    @abstractmethod
    def provider(self) -> str:
        """A short name for metadata and the journal (never a key)."""

    @abstractmethod
    def fetch(self, symbols: list[str] | None, start: date, end: date) -> ProviderBars:
        """Bars of ``symbols`` (None: the provider's whole universe, where it has one) and why others are absent."""

    def deliver(self, start: date, end: date, symbols: list[str] | None = None) -> BarsDelivery:
        """The bars of ``symbols`` (None: the universe) with their provenance.

        A single provider serves every symbol it has; a symbol it does not know, or failed to fetch (rather
        than one merely without bars in the range), is an error naming the symbol and the reason.
        """
        got = self.fetch(self.universe() if symbols is None else symbols, start, end)
        failed = {s: r for s, r in got.missing.items() if r != NO_BARS}
        if failed:
            shown = "; ".join(f"{s}: {r}" for s, r in sorted(failed.items())[:10])
            raise ValueError(f"{self.provider}: no bars for {len(failed)} symbol(s): {shown}")
        served = dict.fromkeys(sorted(got.bars["symbol"].unique()), self.provider)
        return BarsDelivery(bars=got.bars, served_by=served, unserved=dict(got.missing))

    def bars(self, start: date, end: date, symbols: list[str] | None = None) -> pd.DataFrame:
        """Raw (unvalidated) bars of ``symbols`` (None: the universe) with start <= date <= end, in
        schema.BAR_COLUMNS."""
        return self.deliver(start, end, symbols).bars

    def universe(self) -> list[str] | None:
        return None if self.symbols is None else sorted({s.strip().upper() for s in self.symbols})


class ReplayMarketData(MarketData):
    """Replays a file of real daily bars (CSV or Parquet); the bundled 5-stock sample by default."""

    path: str | None = Field(default=None, description="Bars file; None means the bundled sample.")

    @property
    def provider(self) -> str:
        return f"replay:{Path(self.path).name if self.path else SAMPLE_BARS.name}"

    def fetch(self, symbols: list[str] | None, start: date, end: date) -> ProviderBars:
        frame = load_replay_bars(str(Path(self.path).resolve()) if self.path else str(SAMPLE_BARS))
        missing: dict[str, str] = {}
        if symbols is not None:
            wanted = {s.upper() for s in symbols}
            known = set(frame["symbol"].unique())
            missing = dict.fromkeys(sorted(wanted - known), f"unknown symbol in {self.provider}")
            frame = frame[frame["symbol"].isin(wanted)]
        in_range = (frame["date"] >= pd.Timestamp(start)) & (frame["date"] <= pd.Timestamp(end))
        bars = frame[in_range].reset_index(drop=True)
        if symbols is not None:
            served = set(bars["symbol"].unique())
            missing |= dict.fromkeys(sorted({s.upper() for s in symbols} - served - set(missing)), NO_BARS)
        return ProviderBars(bars=bars, missing=missing)


@lru_cache(maxsize=4)
def load_replay_bars(path: str) -> pd.DataFrame:
    """A replayed bars file, parsed once per process (a 600k-row CSV takes a second): the CLI's checks before a
    run and the run itself read the same frame."""
    return load_bars_file(path)


class _CachedProvider(MarketData):
    """A remote provider: its answers are cached on disk (under DAGSTER_HOME unless ``cache_dir`` is set)."""

    cache_dir: str | None = Field(
        default=None, description="Bar cache folder; None means <DAGSTER_HOME>/trading_pipeline/bar_cache."
    )
    cache_ttl_s: float = Field(default=12 * 3600, ge=0, description="Seconds a cached answer stays fresh; 0 disables.")
    _cache: BarCache | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        root = self.cache_dir or (
            str(Path(context.instance.root_directory) / "trading_pipeline" / "bar_cache") if context.instance else None
        )
        self._cache = BarCache(root, self.cache_ttl_s) if root else None

    def cache(self) -> BarCache | None:
        if self._cache is None and self.cache_dir:
            self._cache = BarCache(self.cache_dir, self.cache_ttl_s)
        return self._cache

    def _need_symbols(self, symbols: list[str] | None) -> list[str]:
        if not symbols:
            raise ValueError(f"{self.provider} cannot list a universe: configure `symbols`")
        return symbols


class AlpacaMarketData(_CachedProvider, AlpacaKeys):
    """Alpaca's historical bars API (IEX feed by default), rate limited per account, with retries."""

    data_url: str | None = Field(default=None, description="Data API base URL; None means Alpaca's.")
    feed: Literal["iex", "sip", "delayed_sip"] = "iex"
    adjustment: Literal["raw", "split", "dividend", "all"] = Field(
        default="all", description="Corporate-action adjustment; 'all' matches the adjusted replay data."
    )
    timeout_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=4, ge=1, description="Attempts per request on 429/5xx/connection errors.")
    retry_base_delay_s: float = Field(default=0.5, ge=0)
    max_requests_per_minute: int = Field(default=200, ge=1, description="Shared by every client of the account.")
    _client: GovernedDataClient | None = PrivateAttr(default=None)

    @property
    def provider(self) -> str:
        return f"alpaca:{self.feed}"

    def settings(self) -> AlpacaSettings:
        return AlpacaSettings(
            api_key=self.api_key,
            secret_key=self.secret_key,
            data_url=self.data_url,
            timeout_s=self.timeout_s,
            retry=RetryPolicy(max_attempts=self.max_attempts, base_delay_s=self.retry_base_delay_s),
            max_requests_per_minute=self.max_requests_per_minute,
        )

    def client(self) -> GovernedDataClient:
        if self._client is None:
            self._client = GovernedDataClient(self.settings())
        return self._client

    def fetch(self, symbols: list[str] | None, start: date, end: date) -> ProviderBars:
        return alpaca_data.fetch_daily_bars(
            self.client(), self._need_symbols(symbols), start, end, self.feed, self.adjustment, self.cache()
        )

    def intraday_bars(self, start: datetime, end: datetime, minutes: int = 15) -> pd.DataFrame:
        """Intraday bars of the universe (for the intraday cycle); not cached, they are for now."""
        return alpaca_data.fetch_intraday_bars(
            self.client(), self._need_symbols(self.universe()), start, end, minutes, self.feed
        )


class YFinanceMarketData(_CachedProvider):
    """Yahoo Finance through yfinance (adjusted daily bars); fails within seconds when Yahoo is unreachable."""

    timeout_s: float = Field(default=5.0, gt=0, description="Per-request timeout.")
    proxy: str | None = Field(default=None, description="HTTP(S) proxy URL for Yahoo requests.")

    @property
    def provider(self) -> str:
        return "yfinance"

    def fetch(self, symbols: list[str] | None, start: date, end: date) -> ProviderBars:
        return yfinance_data.fetch_daily_bars(
            self._need_symbols(symbols), start, end, self.timeout_s, self.proxy, self.cache()
        )


PROVIDER_NAMES = ("alpaca", "yfinance", "replay")


class FallbackMarketData(MarketData):
    """An ordered chain: each symbol is served by the first provider in ``order`` that has its bars.

    A provider that fails (network, rate limit, unknown symbol, bad data) or has no bars for a symbol passes
    that symbol to the next; every such step is recorded. Each provider is asked only for the symbols still
    unserved, so the chain's ``symbols`` (not the providers' own) is the universe. Symbols no provider has
    are reported, not invented; a delivery with no bar at all is an error naming each provider's reason.
    """

    alpaca: AlpacaMarketData | None = None
    yfinance: YFinanceMarketData | None = None
    replay: ReplayMarketData | None = None
    order: list[str] = Field(default=list(PROVIDER_NAMES), description="Provider names, first tried first.")

    def chain(self) -> list[tuple[str, MarketData]]:
        unknown = [n for n in self.order if n not in PROVIDER_NAMES]
        if unknown or len(set(self.order)) != len(self.order):
            raise ValueError(f"order must list distinct names among {PROVIDER_NAMES}, got {self.order}")
        chain = [(n, getattr(self, n)) for n in self.order if getattr(self, n) is not None]
        if not chain:
            raise ValueError(f"no provider of order {self.order} is configured")
        return chain

    @property
    def provider(self) -> str:
        return "fallback(" + " > ".join(p.provider for _, p in self.chain()) + ")"

    def fetch(self, symbols: list[str] | None, start: date, end: date) -> ProviderBars:
        delivery = self._walk(symbols, start, end)
        return ProviderBars(bars=delivery.bars, missing=delivery.unserved)

    def deliver(self, start: date, end: date, symbols: list[str] | None = None) -> BarsDelivery:
        """Symbols no provider had are reported in ``unserved`` (market_bars' metadata), not raised; a delivery with
        no bar at all is an error naming each provider's reason."""
        delivery = self._walk(self.universe() if symbols is None else symbols, start, end)
        if delivery.bars.empty:
            raise RuntimeError(f"no provider of {self.provider} served any bar for {start}..{end}: {_why(delivery)}")
        return delivery

    def bars(self, start: date, end: date, symbols: list[str] | None = None) -> pd.DataFrame:
        """History before a range (warm-up, look-backs) may be empty where a provider answered that it has no bars
        then (the data begins later); it is an error only when no provider answered at all."""
        delivery = self._walk(self.universe() if symbols is None else symbols, start, end)
        if delivery.bars.empty and not any(f["reason"] == NO_BARS for f in delivery.fallbacks):
            raise RuntimeError(f"no provider of {self.provider} answered for {start}..{end}: {_why(delivery)}")
        return delivery.bars

    def _walk(self, symbols: list[str] | None, start: date, end: date) -> BarsDelivery:
        remaining = None if symbols is None else list(symbols)
        frames: list[pd.DataFrame] = []
        served: dict[str, str] = {}
        fallbacks: list[dict[str, str]] = []
        reasons: dict[str, list[str]] = {}
        for _, provider in self.chain():
            if remaining == []:
                break
            try:
                got = provider.fetch(remaining, start, end)
            except PROVIDER_ERRORS as exc:
                reason = f"{type(exc).__name__}: {exc}"
                log.warning("market data: %s failed, falling back: %s", provider.provider, reason)
                for symbol in remaining or ["*"]:
                    fallbacks.append({"symbol": symbol, "provider": provider.provider, "reason": reason})
                    reasons.setdefault(symbol, []).append(f"{provider.provider}: {reason}")
                continue
            if len(got.bars):
                frames.append(got.bars)
                for symbol in got.bars["symbol"].unique():
                    served[symbol] = provider.provider
            if remaining is None:
                if len(got.bars):
                    remaining = []
                    break
                fallbacks.append({"symbol": "*", "provider": provider.provider, "reason": NO_BARS})
                continue
            for symbol, reason in sorted(got.missing.items()):
                fallbacks.append({"symbol": symbol, "provider": provider.provider, "reason": reason})
                reasons.setdefault(symbol, []).append(f"{provider.provider}: {reason}")
            remaining = [s for s in remaining if s not in served]
        unserved = {s: " | ".join(reasons.get(s, [NO_BARS])) for s in (remaining or [])}
        if not frames:
            return BarsDelivery(bars=empty_bars(), served_by={}, fallbacks=fallbacks, unserved=unserved)
        bars = pd.concat(frames, ignore_index=True).sort_values(["symbol", "date"], ignore_index=True)
        return BarsDelivery(bars=bars, served_by=dict(sorted(served.items())), fallbacks=fallbacks, unserved=unserved)


def _why(delivery: BarsDelivery) -> str:
    return "; ".join(f"{f['provider']} ({f['symbol']}): {f['reason']}" for f in delivery.fallbacks[:10])
