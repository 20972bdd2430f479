"""The blocking data-quality check on market_bars."""

import pandas as pd
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from trading_pipeline.defs.market.market_bars import market_bars
from trading_pipeline.defs.partitions import ranged, sessions_partitions
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.domain.bars import quarantine_share

MAX_LISTED = 200


@ranged(asset_check)(asset=market_bars, blocking=True, partitions_def=sessions_partitions)
def bars_valid(
    context: AssetCheckExecutionContext, market_bars: pd.DataFrame, trading: TradingBook
) -> AssetCheckResult:
    """Lists every quarantined bar; fails (blocking the day's orders) when too much of the universe is bad."""
    bad = market_bars[market_bars["quarantined"]]
    share = quarantine_share(market_bars)
    limit = trading.max_quarantined_share
    failing = share[share > limit]
    listing = bad[["symbol", "date", "quarantine_reason"]].head(MAX_LISTED).assign(date=lambda f: f["date"].dt.date)
    return AssetCheckResult(
        passed=failing.empty,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{len(failing)} session(s) with more than {limit:.0%} of the universe quarantined"
            if len(failing)
            else f"{len(bad)} bar(s) quarantined, no session above {limit:.0%} of the universe"
        ),
        metadata={
            "quarantined_bars": len(bad),
            "sessions_over_limit": MetadataValue.md(_table(failing.rename("share").reset_index())),
            "quarantined": MetadataValue.md(_table(listing)),
            "max_share": float(share.max()) if len(share) else 0.0,
        },
    )


def _table(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False) if len(frame) else "none"
