"""market_bars: the validated daily bars of each session, with the quarantine verdict per bar."""

from datetime import date

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MetadataValue

from trading_pipeline.defs.details import with_details
from trading_pipeline.defs.discovery.universe import universe_symbols
from trading_pipeline.defs.execution.book_inputs import starting_book
from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.resources.bar_rules import BarRules
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.discovery import SymbolDiscovery
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.market_data import BarsDelivery, MarketData
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.defs.signals.indicators import WARMUP_SESSIONS
from trading_pipeline.domain import calendar
from trading_pipeline.domain.bars import price_jumps
from trading_pipeline.domain.schema import KEY

# Jumps are looked for over the sessions the indicators warm up on: a jump inside an indicator's window is
# always seen, and even a one-session run knows each symbol's previous close.
JUMP_LOOKBACK_SESSIONS = WARMUP_SESSIONS
MAX_LISTED = 200


# Only the universe's keys: its features and reasons (~475k rows over 500 x 5 years with discovery on) are not read.
@session_table("market", ins={"universe": AssetIn(metadata={"columns": KEY})})
def market_bars(
    context: AssetExecutionContext,
    universe: pd.DataFrame,
    bar_rules: BarRules,
    market_data: MarketData,
    discovery: SymbolDiscovery,
    trading: TradingBook,
    journal: JournalResource,
) -> pd.DataFrame:
    """Bars failing validation stay in the table, flagged and journaled, and are never traded or repaired.

    The range is validated together with the sessions before it, so a price jump there still quarantines
    the symbol. A bar dated on no session belongs to no session's table: it is journaled (under the run's
    first session on or after its date) and listed in the metadata. Which provider served each symbol,
    every fallback taken and every symbol no provider had are shown in the metadata and journaled (rules
    ``provider_fallback`` and ``no_provider``) on the range's last session. With discovery on, the symbols are
    the universe's candidates and what the book holds (a position whose symbol left the candidates is still
    valued, protected and sold); off, the market data's configured universe, as the universe lists it.
    """
    sessions = session_dates(context.partition_keys)
    book = journal.book(context, trading.book)
    symbols = None
    if discovery.enabled:
        held = starting_book(book, trading, sessions[0]).positions
        symbols = sorted(set(universe_symbols(universe)) | set(held))
    delivery = market_data.deliver(sessions[0], sessions[-1], symbols)
    history = market_data.bars(
        calendar.session_offset(sessions[0], -JUMP_LOOKBACK_SESSIONS).date(),
        calendar.previous_session(sessions[0]).date(),
        symbols,
    )
    validated = bar_rules.validate(pd.concat([history, delivery.bars], ignore_index=True))
    in_range = (validated["date"] >= pd.Timestamp(sessions[0])).to_numpy()
    on_session = validated["date"].isin(pd.DatetimeIndex(sessions)).to_numpy()
    bars = validated[in_range & on_session].reset_index(drop=True)
    if bars.empty:
        universe = market_data.universe()
        raise ValueError(
            f"no bars for {sessions[0]}..{sessions[-1]} from {market_data.provider} "
            f"(symbols asked for: {', '.join(universe) if universe else 'all the provider has'})"
        )
    quarantined = validated[in_range & validated["quarantined"].to_numpy()]
    off_session = validated[in_range & ~on_session][["symbol", "date", "quarantine_reason"]]
    jumps = _jumps(context, validated, bar_rules.max_close_move, bar_rules.accepted())
    if len(delivery.unserved):
        context.log.warning(f"no provider had bars for {sorted(delivery.unserved)}")
    book.record_risk_events(
        sessions,
        "market_bars",
        pd.concat(
            [_quarantine_events(quarantined, sessions), _provenance_events(delivery, sessions)], ignore_index=True
        ),
    )
    served = pd.Series(delivery.served_by, name="provider").rename_axis("symbol").reset_index()
    summary = {
        "provider": market_data.provider,
        "symbols": int(bars["symbol"].nunique()),
        "quarantined_bars": len(quarantined),
        "providers_used": sorted(set(delivery.served_by.values())),
        "fallbacks": len(delivery.fallbacks),
        "unserved_symbols": sorted(delivery.unserved),
    }
    tables = {
        "non_session_bars": MetadataValue.md(
            _table(off_session.assign(date=off_session["date"].dt.date).head(MAX_LISTED))
        ),
        "price_jumps": MetadataValue.md(_table(jumps.head(MAX_LISTED))),
        "served_by": MetadataValue.md(_table(served)),
        "fallbacks_taken": MetadataValue.md(_table(pd.DataFrame(delivery.fallbacks).head(MAX_LISTED))),
    }
    context.add_output_metadata(with_details(context, summary, tables))
    return bars


def _jumps(
    context: AssetExecutionContext,
    validated: pd.DataFrame,
    max_close_move: float,
    accepted: frozenset[tuple[str, date]],
) -> pd.DataFrame:
    """The moves beyond the limit in the range and the history before it, each accepted or not; the
    unaccepted ones are logged as a warning naming what to accept if they are real."""
    jumps = price_jumps(validated, max_close_move)
    jumps["date"] = jumps["date"].dt.date
    jumps["accepted"] = [(s, d) in accepted for s, d in zip(jumps["symbol"], jumps["date"], strict=True)]
    refused = jumps[~jumps["accepted"]]
    if len(refused):
        shown = ", ".join(
            f"{s}:{d} ({m:+.0%})" for s, d, m in refused[["symbol", "date", "move"]].head(10).itertuples(False)
        )
        context.log.warning(
            f"{len(refused)} price jump(s) quarantine their symbol from then on: {shown}; "
            "if a move is real, add it to the bar_rules resource's accepted_moves"
        )
    return jumps


def _quarantine_events(quarantined: pd.DataFrame, sessions: list[date]) -> pd.DataFrame:
    """One event per quarantined bar, under its session, or for a bar dated on no session under the run's
    first session on or after its date (the last one if none) with its own date in the message."""
    run_sessions = pd.DatetimeIndex(sessions)
    at = run_sessions[np.minimum(run_sessions.searchsorted(quarantined["date"]), len(run_sessions) - 1)]
    dated_elsewhere = (quarantined["date"] != at).to_numpy()
    message = quarantined["quarantine_reason"].where(
        ~dated_elsewhere,
        quarantined["quarantine_reason"] + " (bar dated " + quarantined["date"].dt.strftime("%Y-%m-%d") + ")",
    )
    return pd.DataFrame(
        {
            "session": at.date,
            "symbol": quarantined["symbol"].to_numpy(),
            "rule": "bar_validation",
            "action": "quarantined",
            "message": message.to_numpy(),
        }
    )


def _provenance_events(delivery: BarsDelivery, sessions: list[date]) -> pd.DataFrame:
    rows = [
        *(
            {"symbol": f["symbol"], "rule": "provider_fallback", "message": f"{f['provider']}: {f['reason']}"}
            for f in delivery.fallbacks
        ),
        *({"symbol": s, "rule": "no_provider", "message": reason} for s, reason in delivery.unserved.items()),
    ]
    return pd.DataFrame(rows, columns=["symbol", "rule", "message"]).assign(session=sessions[-1], action="info")


def _table(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False) if len(frame) else "none"
