"""Symbol discovery's settings and where its candidates come from: one interface, the market data's own symbols by
default, Alpaca's assets endpoint (tradable, active, on the listed exchanges) under the paper and live profiles.

Discovery is off by default: the universe is then the configured symbols and the cycle trades them as it always did.
On, the universe is decided per session from the candidates' bars up to the session before, and the watchlist of
the ensemble of pickers is what the cycle may buy.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pandas as pd
from alpaca.data.enums import MostActivesBy
from alpaca.data.requests import MostActivesRequest
from alpaca.trading.enums import AssetClass, AssetStatus
from alpaca.trading.requests import GetAssetsRequest
from dagster import ConfigurableResource
from pydantic import Field

from trading_pipeline.defs.resources.alpaca_keys import AlpacaKeys
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.domain.discovery.chain import DiscoverySettings
from trading_pipeline.domain.discovery.ensemble import DEFAULT_WEIGHTS, EnsembleCombiner
from trading_pipeline.domain.discovery.universe import load_membership
from trading_pipeline.integrations.alpaca_client import (
    MOST_ACTIVES_LIMIT,
    AlpacaSettings,
    GovernedScreenerClient,
    GovernedTradingClient,
)

ALPACA_EXCHANGES = ("NYSE", "NASDAQ", "ARCA", "AMEX", "BATS")


class SymbolDiscovery(ConfigurableResource):
    """The switch and the knobs of discovery; ``candidates`` None means every symbol the market data serves."""

    enabled: bool = Field(
        default=False, description="On: the watchlist is the trading cycle's universe (what it may buy)."
    )
    membership_path: str | None = Field(
        default=None,
        description="CSV symbol,start,end (ISO dates, empty end: still a member) making the universe "
        "point-in-time; None: every candidate, survivorship-biased on the bundled S&P 500 panels.",
    )
    max_watchlist: int = Field(default=20, ge=1, description="Symbols on a session's watchlist at most.")
    weights: dict[str, float] = Field(
        default=dict(DEFAULT_WEIGHTS), description="Ensemble weight per picker (metric, fuzzy, llm), normalised."
    )

    @property
    def source(self) -> str:
        """Where the candidates come from, for metadata."""
        return "the market data's symbols"

    def candidates(self) -> list[str] | None:
        """The symbols discovery may choose from; None: every symbol the market data has."""
        return None

    def candidates_of(self, market_data: MarketData) -> list[str] | None:
        """``candidates``, else the market data's configured symbols (None: every symbol it serves)."""
        return self.candidates() or market_data.universe()

    def settings(self) -> DiscoverySettings:
        return DiscoverySettings(
            ensemble=EnsembleCombiner(weights=MappingProxyType(self.weights), max_size=self.max_watchlist)
        )

    def membership(self) -> pd.DataFrame | None:
        return None if self.membership_path is None else load_membership(self.membership_path)


class AlpacaAssetsDiscovery(SymbolDiscovery, AlpacaKeys):
    """Candidates from Alpaca: the ``most_active`` stocks by volume of its screener that are active US equities
    tradable on ``exchanges`` (its assets endpoint). Every candidate's history is fetched each session, so the
    ~10,000 tradable assets are capped by the screener; ``most_active`` None takes them all."""

    trading_url: str | None = Field(default=None, description="Trading API base URL; None: Alpaca's paper API.")
    data_url: str | None = Field(default=None, description="Market data API base URL; None: Alpaca's.")
    paper: bool = True
    exchanges: list[str] = Field(default=list(ALPACA_EXCHANGES), description="Listing exchanges kept.")
    most_active: int | None = Field(
        default=MOST_ACTIVES_LIMIT,
        ge=1,
        le=MOST_ACTIVES_LIMIT,
        description="The screener's most active stocks by volume kept as candidates (at most 100, Alpaca's limit); "
        "None: every tradable asset (thousands of histories fetched per session).",
    )

    @property
    def source(self) -> str:
        listed = f"Alpaca assets (active, tradable, on {', '.join(self.exchanges)})"
        return listed if self.most_active is None else f"the {self.most_active} most active by volume among {listed}"

    def candidates(self) -> list[str] | None:
        """GET /v2/assets, and the screener's most actives, through the project's governed clients (rate limit and
        retries of the account)."""
        settings = AlpacaSettings(
            api_key=self.api_key,
            secret_key=self.secret_key,
            paper=self.paper,
            trading_url=self.trading_url,
            data_url=self.data_url,
        )
        assets = GovernedTradingClient(settings).get_all_assets(
            GetAssetsRequest(status=AssetStatus.ACTIVE, asset_class=AssetClass.US_EQUITY)
        )
        symbols = tradable_symbols(
            [{"symbol": a.symbol, "tradable": a.tradable, "status": a.status, "exchange": a.exchange} for a in assets],
            self.exchanges,
        )
        if self.most_active is None:
            return symbols
        active = GovernedScreenerClient(settings).get_most_actives(
            MostActivesRequest(by=MostActivesBy.VOLUME, top=self.most_active)
        )
        listed = set(symbols)
        return sorted({a.symbol for a in active.most_actives if a.symbol in listed})


def tradable_symbols(assets: list[Mapping[str, object]], exchanges: list[str]) -> list[str]:
    """The sorted symbols of the active, tradable assets listed on one of ``exchanges`` (enum values or texts)."""
    wanted = {e.upper() for e in exchanges}
    return sorted(
        {
            str(a["symbol"])
            for a in assets
            if a["tradable"] and _text(a["status"]) == "active" and _text(a["exchange"]).upper() in wanted
        }
    )


def _text(value: object) -> str:
    return str(getattr(value, "value", value))
