"""market_bars: the validated daily bars of each session, with the quarantine verdict per bar."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue

from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.domain.bars import validate_bars


@session_table("market")
def market_bars(
    context: AssetExecutionContext, market_data: MarketData, trading: TradingBook, journal: JournalResource
) -> pd.DataFrame:
    """Bars failing validation stay in the table, flagged and journaled, and are never traded or repaired.

    Which provider served each symbol, every fallback taken and every symbol no provider had are shown in
    the metadata and journaled (rules ``provider_fallback`` and ``no_provider``) on the range's last session.
    """
    sessions = session_dates(context.partition_keys)
    delivery = market_data.deliver(sessions[0], sessions[-1])
    bars = validate_bars(delivery.bars)
    quarantined = bars[bars["quarantined"]]
    provenance = pd.DataFrame(
        [
            *(
                {"symbol": f["symbol"], "rule": "provider_fallback", "message": f"{f['provider']}: {f['reason']}"}
                for f in delivery.fallbacks
            ),
            *({"symbol": s, "rule": "no_provider", "message": reason} for s, reason in delivery.unserved.items()),
        ],
        columns=["symbol", "rule", "message"],
    )
    if len(delivery.unserved):
        context.log.warning(f"no provider had bars for {sorted(delivery.unserved)}")
    journal.record_risk_events(
        book=trading.book,
        sessions=sessions,
        source="market_bars",
        events=pd.concat(
            [
                pd.DataFrame(
                    {
                        "session": quarantined["date"].dt.date,
                        "symbol": quarantined["symbol"],
                        "rule": "bar_validation",
                        "action": "quarantined",
                        "message": quarantined["quarantine_reason"],
                    }
                ),
                provenance.assign(session=sessions[-1], action="info"),
            ],
            ignore_index=True,
        ),
        run_id=context.run.run_id,
    )
    served = pd.Series(delivery.served_by, name="provider").rename_axis("symbol").reset_index()
    context.add_output_metadata(
        {
            "provider": market_data.provider,
            "symbols": int(bars["symbol"].nunique()),
            "quarantined_bars": len(quarantined),
            "providers_used": sorted(set(delivery.served_by.values())),
            "served_by": MetadataValue.md(served.to_markdown(index=False) if len(served) else "none"),
            "fallbacks": len(delivery.fallbacks),
            "fallbacks_taken": MetadataValue.md(
                pd.DataFrame(delivery.fallbacks).head(200).to_markdown(index=False) if delivery.fallbacks else "none"
            ),
            "unserved_symbols": sorted(delivery.unserved),
        }
    )
    return bars
