"""universe: the symbols eligible on each session, decided from what was known at the close of the session before.

Off (the default), it is the configured symbols, every session, and market_bars fetches what it always fetched. On,
the candidates' bars up to the session before are validated and turned into the discovery features, and the
universe rules (history, price, dollar volume, data quality, and index membership when a file gives it) decide.
"""

from datetime import date

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, MetadataValue

from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.resources.bar_rules import BarRules
from trading_pipeline.defs.resources.discovery import SymbolDiscovery
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.domain import calendar
from trading_pipeline.domain.discovery.features import PRICE_FEATURES, discovery_features
from trading_pipeline.domain.discovery.universe import SURVIVORSHIP_NOTE, UNIVERSE_COLUMNS, eligible_universe

# Sessions of bars read before a range: the history feature is counted within them (capped), so a session's
# universe is the same whatever range it is computed in; more than any history rule asks for (a year: 252).
LOOKBACK_SESSIONS = 300
FEATURE_COLUMNS = [*PRICE_FEATURES, "quarantined_share", "last_bar_clean"]
COLUMNS = [*UNIVERSE_COLUMNS, *FEATURE_COLUMNS]
CONFIGURED = "configured (discovery off)"


@session_table("discovery")
def universe(
    context: AssetExecutionContext, market_data: MarketData, discovery: SymbolDiscovery, bar_rules: BarRules
) -> pd.DataFrame:
    """One row per (session, candidate): eligible or not and why, with the features of the close before.

    The bundled S&P 500 panels are survivorship-biased (their members are those of early 2018); a membership
    file (``discovery``'s ``membership_path``) makes the universe point-in-time.
    """
    sessions = session_dates(context.partition_keys)
    if discovery.enabled:
        candidates = discovery.candidates_of(market_data)
        last = calendar.previous_session(sessions[-1]).date()
        bars = discovery_bars(market_data, bar_rules, candidates, sessions[0], last)
        frame = point_in_time_universe(bars, sessions, discovery)
        source = discovery.source
    else:
        frame = configured_universe(market_data, sessions)
        source = "the configured symbols" if market_data.universe() else "every symbol the market data serves"
    eligible = frame.groupby("date")["eligible"].sum()
    membership = discovery.membership_path
    context.add_output_metadata(
        {
            "discovery": "on" if discovery.enabled else "off",
            "candidates_from": source,
            "candidates": int(frame["symbol"].nunique()),
            "eligible_per_session_median": float(eligible.median()) if len(eligible) else 0.0,
            "survivorship": f"point-in-time: membership from {membership}" if membership else SURVIVORSHIP_NOTE,
            "why_not_eligible": MetadataValue.md(_reasons(frame)),
        }
    )
    return frame


def discovery_bars(
    market_data: MarketData, rules: BarRules, symbols: list[str] | None, first: date, last: date
) -> pd.DataFrame:
    """The bars of ``symbols`` from ``LOOKBACK_SESSIONS`` before ``first`` through ``last``, validated by the
    same rules as market_bars (a real move it accepts does not make a symbol ineligible here)."""
    start = calendar.session_offset(first, -LOOKBACK_SESSIONS).date()
    return rules.validate(market_data.fetch(symbols, start, last).bars)


def point_in_time_universe(bars: pd.DataFrame, sessions: list[date], discovery: SymbolDiscovery) -> pd.DataFrame:
    """``COLUMNS`` for ``sessions`` from validated ``bars`` reaching ``LOOKBACK_SESSIONS`` before the first."""
    features = discovery_features(bars)
    features = features[features["date"].isin(pd.DatetimeIndex(sessions))].reset_index(drop=True)
    features["history"] = np.minimum(features["history"], LOOKBACK_SESSIONS)
    verdicts = eligible_universe(features, discovery.settings().universe, discovery.membership())
    frame = pd.concat([verdicts, features[FEATURE_COLUMNS]], axis=1)
    return frame.sort_values(["date", "symbol"], ignore_index=True)[COLUMNS]


def configured_universe(market_data: MarketData, sessions: list[date]) -> pd.DataFrame:
    """Every configured symbol on every session; no row when none is configured (every symbol the market data
    serves, as market_bars fetches them: listing them would cost a fetch and a row per bar for nothing)."""
    symbols = market_data.universe() or []
    days = pd.DatetimeIndex(sessions)
    frame = pd.DataFrame(
        {
            "date": np.repeat(days, len(symbols)),
            "symbol": np.tile(np.asarray(symbols, dtype=object), len(days)),
            "eligible": True,
            "reason": CONFIGURED,
        }
    )
    features = dict.fromkeys(PRICE_FEATURES, np.nan)
    return frame.assign(**features, quarantined_share=np.nan, last_bar_clean=False)[COLUMNS]


def universe_symbols(frame: pd.DataFrame) -> list[str]:
    """Every candidate of the range, eligible or not (a held symbol must keep its bars to be sold)."""
    return sorted(frame["symbol"].unique())


def _reasons(frame: pd.DataFrame) -> str:
    counts = frame.loc[~frame["eligible"], "reason"].value_counts().head(20)
    return counts.rename_axis("reason").reset_index(name="rows").to_markdown(index=False) if len(counts) else "none"
