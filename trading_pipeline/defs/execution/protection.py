"""positions_protected: every open position has its protective stop, at the broker when there is one.

With the simulator the book's own positions must each carry a stop level. With a real broker the truth is the
broker's: every long position of the account must be covered by working sell stops, so a position stays
protected whenever the desk is down. The check blocks the rest of the run (reports) and is journaled.
"""

from datetime import timedelta

import pandas as pd
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetKey, asset_check

from trading_pipeline.defs.partitions import ranged, session_dates, sessions_partitions
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import Broker
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.domain.book import BookState


@ranged(asset_check)(
    asset=AssetKey("portfolio"),
    name="positions_protected",
    blocking=True,
    partitions_def=sessions_partitions,
    description="Every open position has a working protective stop (at the broker, with a real broker).",
)
def positions_protected(
    context: AssetCheckExecutionContext, trading: TradingBook, broker: Broker, journal: JournalResource
) -> AssetCheckResult:
    end = session_dates(context.partition_keys)[-1]
    book = journal.book(context, trading.book)
    saved = book.load_state(before=end + timedelta(days=1))
    state = BookState.initial(trading.book, trading.initial_capital) if saved is None else BookState.from_dict(saved[1])
    gaps = broker.unprotected(state)
    book.record_risk_events(
        [end],
        "check:positions_protected",
        pd.DataFrame(
            {
                "session": [end] * len(gaps),
                "symbol": list(gaps),
                "rule": "positions_protected",
                "action": "check_failed",
                "value": None,
                "limit": None,
                "message": [f"unprotected: {why}" for why in gaps.values()],
            },
            columns=["session", "symbol", "rule", "action", "value", "limit", "message"],
        ),
    )
    where = "at the broker" if broker.kind != "simulated" else "in the book"
    return AssetCheckResult(
        passed=not gaps,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{len(gaps)} open position(s) without a working stop {where}: {', '.join(gaps)}"
            if gaps
            else f"every open position has a working stop {where}"
        ),
        metadata={
            "checked_at": str(end),
            "unprotected": len(gaps),
            "details": "; ".join(f"{s}: {w}" for s, w in gaps.items()) or "none",
        },
    )
