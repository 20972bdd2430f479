"""signals: BUY/SELL/HOLD with confidence, stop and target from each symbol's selected strategy, and that
strategy's point-in-time track record on the symbol (read by the quant validation)."""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Config, MetadataValue
from pydantic import Field

from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.resources.bar_rules import BarRules
from trading_pipeline.defs.resources.discovery import SymbolDiscovery
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.defs.resources.strategies import StrategyCatalog
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.defs.signals.indicators import indicators_with_lookback
from trading_pipeline.domain.discovery.trading import buys_on_the_watchlist
from trading_pipeline.domain.schema import KEY
from trading_pipeline.domain.validation import TRACK_RECORD_WINDOW, signals_with_track_record


class SignalsConfig(Config):
    track_record_window: int = Field(
        default=TRACK_RECORD_WINDOW, ge=20, description="Sessions of history behind each track record and the VIF."
    )


@session_table(
    "signals",
    ins={
        "watchlist": AssetIn(metadata={"columns": KEY}),
        "strategy_selection": AssetIn(metadata={"columns": ["strategy"]}),  # not the reasons: ~600k texts
    },
)
def signals(
    context: AssetExecutionContext,
    config: SignalsConfig,
    indicators: pd.DataFrame,
    strategy_selection: pd.DataFrame,
    watchlist: pd.DataFrame,
    market_data: MarketData,
    bar_rules: BarRules,
    strategies: StrategyCatalog,
    discovery: SymbolDiscovery,
) -> pd.DataFrame:
    """Every selected strategy runs once, vectorized over the range and the track-record window before it
    (from the market data provider); each row keeps the output of its selected strategy. With discovery on, a
    BUY of a symbol off the session's watchlist is a HOLD saying so (exits always pass)."""
    first = session_dates(context.partition_keys)[0]
    history = indicators_with_lookback(market_data, bar_rules, indicators, first, config.track_record_window)
    frame = signals_with_track_record(history, strategy_selection, strategies.registry, config.track_record_window)
    frame = frame[frame["date"] >= pd.Timestamp(first)].reset_index(drop=True)
    if discovery.enabled:
        frame = buys_on_the_watchlist(frame, watchlist)
    actions = frame.groupby(["strategy", "action"]).size().rename("rows").reset_index()
    context.add_output_metadata({"actions": MetadataValue.md(actions.to_markdown(index=False))})
    return frame
