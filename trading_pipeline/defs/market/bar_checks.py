"""The blocking data-quality check on market_bars."""

from datetime import date

import pandas as pd
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from trading_pipeline.defs.market.market_bars import market_bars
from trading_pipeline.defs.partitions import ranged, session_dates, sessions_partitions
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.domain.bars import bad_on_their_own, quarantine_share

MAX_LISTED = 200
SYMBOLS_PER_SESSION = 20  # in the table of failing sessions
NAMED = 3  # failing sessions, and symbols of each, named in the description


@ranged(asset_check)(asset=market_bars, blocking=True, partitions_def=sessions_partitions)
def bars_valid(
    context: AssetCheckExecutionContext, market_bars: pd.DataFrame, trading: TradingBook, journal: JournalResource
) -> AssetCheckResult:
    """Lists every bar market_bars quarantined (as journaled: with the bars dated on no session, which no
    session's table holds); fails, blocking the day's orders, when too much of the universe is bad, naming
    each such session and its quarantined symbols."""
    sessions = session_dates(context.partition_keys)
    events = journal.book(context, trading.book).read("risk_events", start=sessions[0], end=sessions[-1])
    listing = events.loc[
        (events["source"] == "market_bars") & (events["action"] == "quarantined"), ["session", "symbol", "message"]
    ].rename(columns={"message": "reason"})
    share = quarantine_share(market_bars)
    limit = trading.max_quarantined_share
    failing = _failing_sessions(market_bars, share[share > limit])
    table = pd.DataFrame(
        [(day, f"{part:.0%}", _listed(bad, SYMBOLS_PER_SESSION, reasons=True)) for day, part, bad in failing],
        columns=["session", "share", "symbols (reasons)"],
    )
    named = "; ".join(f"{day} ({part:.0%}: {_listed(bad, NAMED)})" for day, part, bad in failing[:NAMED])
    return AssetCheckResult(
        passed=not failing,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{len(failing)} session(s) with more than {limit:.0%} of the universe quarantined: {named}"
            + ("; ..." if len(failing) > NAMED else "")
            if failing
            else f"{len(listing)} bar(s) quarantined, no session above {limit:.0%} of the universe"
        ),
        metadata={
            "quarantined_bars": len(listing),
            "sessions_over_limit": MetadataValue.md(_table(table)),
            "quarantined": MetadataValue.md(_table(listing.assign(session=listing["session"].dt.date))),
            "max_share": float(share.max()) if len(share) else 0.0,
        },
    )


def _failing_sessions(bars: pd.DataFrame, over: pd.Series) -> list[tuple[date, float, pd.DataFrame]]:
    """Each session over the limit with its share and its quarantined bars."""
    bad = bars[bad_on_their_own(bars) & bars["date"].isin(over.index)].groupby("date")
    return [(day.date(), share, bad.get_group(day)) for day, share in over.items()]


def _listed(bad: pd.DataFrame, most: int, reasons: bool = False) -> str:
    """The first ``most`` symbols of ``bad`` (with their reasons), and how many more there are."""
    shown = bad.head(most)
    items = shown["symbol"] + " (" + shown["quarantine_reason"] + ")" if reasons else shown["symbol"]
    more = len(bad) - len(shown)
    return ", ".join(items) + (f" and {more} more" if more else "")


def _table(frame: pd.DataFrame) -> str:
    return frame.head(MAX_LISTED).to_markdown(index=False) if len(frame) else "none"
