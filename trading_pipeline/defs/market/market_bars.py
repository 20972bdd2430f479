"""market_bars: the validated daily bars of each session, with the quarantine verdict per bar."""

import pandas as pd
from dagster import AssetExecutionContext

from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.domain.bars import validate_bars


@session_table("market")
def market_bars(
    context: AssetExecutionContext, market_data: MarketData, trading: TradingBook, journal: JournalResource
) -> pd.DataFrame:
    """Bars failing validation stay in the table, flagged and journaled, and are never traded or repaired."""
    sessions = session_dates(context.partition_keys)
    bars = validate_bars(market_data.bars(sessions[0], sessions[-1]))
    quarantined = bars[bars["quarantined"]]
    journal.record_risk_events(
        book=trading.book,
        sessions=sessions,
        source="market_bars",
        events=pd.DataFrame(
            {
                "session": quarantined["date"].dt.date,
                "symbol": quarantined["symbol"],
                "rule": "bar_validation",
                "action": "quarantined",
                "message": quarantined["quarantine_reason"],
            }
        ),
        run_id=context.run.run_id,
    )
    context.add_output_metadata(
        {
            "provider": market_data.provider,
            "symbols": int(bars["symbol"].nunique()),
            "quarantined_bars": len(quarantined),
        }
    )
    return bars
