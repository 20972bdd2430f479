"""The sandbox's assets (GET /v2/assets, /v2/assets/{symbol}), with the fields alpaca-py's ``Asset`` requires."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from trading_pipeline.sandbox.orders import asset_id
from trading_pipeline.sandbox.wire import parse_choice

ASSET_STATUSES = ("active", "inactive")
ASSET_CLASSES = ("us_equity", "us_option", "crypto")


@dataclass(frozen=True)
class Asset:
    symbol: str
    name: str = ""
    exchange: str = "NASDAQ"
    status: str = "active"
    tradable: bool = True
    marginable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    fractionable: bool = True
    attributes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": asset_id(self.symbol),
            "class": "us_equity",
            "exchange": self.exchange,
            "symbol": self.symbol,
            "name": self.name or f"{self.symbol} Common Stock",
            "status": self.status,
            "tradable": self.tradable,
            "marginable": self.marginable,
            "maintenance_margin_requirement": 30,
            "shortable": self.shortable,
            "easy_to_borrow": self.easy_to_borrow,
            "fractionable": self.fractionable,
            "attributes": list(self.attributes),
        }


# The bundled symbols as Alpaca lists them (FB is Meta's pre-2022 ticker, as in the bundled data).
BUNDLED_ASSETS = (
    Asset("AAPL", "Apple Inc. Common Stock"),
    Asset("FB", "Meta Platforms, Inc. Class A Common Stock"),
    Asset("GOOG", "Alphabet Inc. Class C Capital Stock"),
    Asset("IBM", "International Business Machines Corporation Common Stock", exchange="NYSE"),
    Asset("MSFT", "Microsoft Corporation Common Stock"),
)


def list_assets(assets: Iterable[Asset], query: Mapping[str, str]) -> list[dict[str, Any]]:
    """GET /v2/assets: filtered by ``status``, ``asset_class``, ``exchange`` and any of ``attributes``."""
    status = parse_choice(query["status"], "status", ASSET_STATUSES) if "status" in query else None
    asset_class = parse_choice(query.get("asset_class", "us_equity"), "asset_class", ASSET_CLASSES)
    exchange = query.get("exchange")
    wanted = {a for a in query.get("attributes", "").split(",") if a}
    return [
        asset.to_json()
        for asset in sorted(assets, key=lambda a: a.symbol)
        if asset_class == "us_equity"
        and (status is None or asset.status == status)
        and (exchange is None or asset.exchange == exchange)
        and (not wanted or wanted & set(asset.attributes))
    ]
