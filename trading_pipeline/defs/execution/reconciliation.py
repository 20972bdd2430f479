"""Reconciliation: the journal's positions against what independently determines them.

Always, for every session of the run, the journaled positions must equal the positions the journal's own
fills imply (all fills of the book up to that session, replayed): a lost, duplicated or hand-edited fill
or position row fails the check. With a broker that reports positions (Alpaca), the journal's positions
at the run's last session must also equal the account's positions now. A mismatch fails the check with
every differing (session, symbol) listed and journaled; it blocks the rest of the run (reports).
"""

from typing import Protocol, runtime_checkable

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from trading_pipeline.defs.partitions import ranged, session_dates, sessions_partitions
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import Broker
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.domain.ledger import compare_positions, positions_by_session, positions_frame

MAX_LISTED = 200


@runtime_checkable
class ReportsPositions(Protocol):
    """A broker holding real positions of its own (the simulator's positions are the journal's)."""

    def broker_positions(self) -> dict[str, float]: ...


@ranged(asset_check)(
    asset=AssetKey("portfolio"),
    name="positions_reconciled",
    blocking=True,
    partitions_def=sessions_partitions,
    description="Journal positions equal the replay of the journal's fills and, with a real broker, the broker's positions.",
)
def positions_reconciled(
    context: AssetCheckExecutionContext, trading: TradingBook, broker: Broker, journal: JournalResource
) -> AssetCheckResult:
    sessions = session_dates(context.partition_keys)
    book = journal.book(context, trading.book)
    journaled = book.read("positions", start=sessions[0], end=sessions[-1])
    fills = book.read("fills", end=sessions[-1])
    mismatches = compare_positions(positions_by_session(fills, sessions), journaled).assign(source="journal fills")
    compared = ["journal fills"]
    if isinstance(broker, ReportsPositions):
        last = journaled[journaled["session"] == pd.Timestamp(sessions[-1])]
        at_broker = positions_frame(sessions[-1], broker.broker_positions())
        mismatches = pd.concat(
            [mismatches, compare_positions(last, at_broker).assign(source="broker")], ignore_index=True
        )
        compared.append("broker")
    book.record_risk_events(
        sessions,
        "check:positions_reconciled",
        pd.DataFrame(
            {
                "session": mismatches["session"].dt.date,
                "symbol": mismatches["symbol"],
                "rule": "positions_reconciled",
                "action": "check_failed",
                "value": mismatches["actual"],
                "limit": mismatches["expected"],
                "message": "journal positions differ from " + mismatches["source"],
            }
        ),
    )
    listing = mismatches.head(MAX_LISTED).assign(session=lambda f: f["session"].dt.date)
    return AssetCheckResult(
        passed=mismatches.empty,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{len(mismatches)} position difference(s) against {' and '.join(compared)}"
            if len(mismatches)
            else f"journal positions match {' and '.join(compared)} over {len(sessions)} session(s)"
        ),
        metadata={
            "compared_with": ", ".join(compared),
            "positions_checked": len(journaled),
            "mismatches": len(mismatches),
            "details": MetadataValue.md(listing.to_markdown(index=False) if len(listing) else "none"),
        },
    )
