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
from alpaca.trading.enums import AssetClass, AssetStatus
from alpaca.trading.requests import GetAssetsRequest
from dagster import ConfigurableResource
from pydantic import Field

from trading_pipeline.defs.resources.alpaca_keys import AlpacaKeys
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.domain.discovery.chain import DiscoverySettings
from trading_pipeline.domain.discovery.ensemble import DEFAULT_WEIGHTS, EnsembleCombiner
from trading_pipeline.domain.discovery.universe import load_membership
from trading_pipeline.integrations.alpaca_client import AlpacaSettings, GovernedTradingClient

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
    """Candidates from Alpaca's assets endpoint: active US equities that are tradable on ``exchanges``."""

    trading_url: str | None = Field(default=None, description="Trading API base URL; None: Alpaca's paper API.")
    paper: bool = True
    exchanges: list[str] = Field(default=list(ALPACA_EXCHANGES), description="Listing exchanges kept.")

    @property
    def source(self) -> str:
        return f"Alpaca assets (active, tradable, on {', '.join(self.exchanges)})"

    def candidates(self) -> list[str] | None:
        """One GET /v2/assets through the project's governed client (rate limit and retries of the account)."""
        client = GovernedTradingClient(
            AlpacaSettings(
                api_key=self.api_key, secret_key=self.secret_key, paper=self.paper, trading_url=self.trading_url
            )
        )
        assets = client.get_all_assets(GetAssetsRequest(status=AssetStatus.ACTIVE, asset_class=AssetClass.US_EQUITY))
        return tradable_symbols(
            [{"symbol": a.symbol, "tradable": a.tradable, "status": a.status, "exchange": a.exchange} for a in assets],
            self.exchanges,
        )


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
