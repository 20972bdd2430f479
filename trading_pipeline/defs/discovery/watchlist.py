"""watchlist: each session's symbols worth watching, from the metric, fuzzy and LLM pickers merged by the ensemble,
journaled; and the forward returns of earlier watchlists as soon as the sessions that make them known are in.

A watchlist of session D uses only the universe of D (the close of D-1), so it runs before D's open. The return of
an entry of D over h sessions is known at the close of D+h: it is journaled (table ``watchlist_returns``) by the run
of the session after, with the equal-weight universe's return over the same window; never earlier.
"""

from datetime import date

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, MetadataValue

from trading_pipeline.defs.discovery.universe import discovery_bars, point_in_time_universe
from trading_pipeline.defs.llm_steps import llm_run, outcome_table, retry_only_invalid_answers
from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.resources.bar_rules import BarRules
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.discovery import SymbolDiscovery
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.llm import LLM_OP_RETRY
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.defs.resources.symbol_picker import SymbolPicker
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.domain import calendar
from trading_pipeline.domain.discovery.ensemble import WATCHLIST_COLUMNS
from trading_pipeline.domain.discovery.picks import PICK_COLUMNS
from trading_pipeline.domain.discovery.scoring import HORIZONS, forward_returns
from trading_pipeline.journal.books import BookJournal

JOURNAL_COLUMNS = ["session", "symbol", "rank", "score", "pickers", "reason", "divergence"]
RETURN_COLUMNS = ["session", "suggested_on", "symbol", "horizon", "forward_return", "universe_return"]
MAX_LISTED = 50


@session_table("discovery", retry_policy=LLM_OP_RETRY)
def watchlist(
    context: AssetExecutionContext,
    universe: pd.DataFrame,
    discovery: SymbolDiscovery,
    symbol_picker: SymbolPicker,
    market_data: MarketData,
    bar_rules: BarRules,
    journal: JournalResource,
    trading: TradingBook,
) -> pd.DataFrame:
    """The ensemble's ranked symbols per session with who picked them, why, and where the pickers split
    (``divergent``). Empty while discovery is off. The fuzzy picker balances sectors against the book's holdings
    at the start of the range (a backfill's later sessions are sized downstream, after this step)."""
    sessions = session_dates(context.partition_keys)
    if not discovery.enabled:
        context.add_output_metadata({"discovery": "off"})
        return pd.DataFrame(columns=WATCHLIST_COLUMNS).astype({"date": "datetime64[ns]"})
    settings = discovery.settings()
    candidates = universe[universe["eligible"]].reset_index(drop=True)
    book = journal.book(context, trading.book)
    with retry_only_invalid_answers():
        llm = symbol_picker.pick(candidates, llm_run(context, journal, trading))
    picks = pd.concat(
        [
            settings.metric.pick(candidates),
            settings.fuzzy.pick(candidates, _holdings(book, sessions[0])),
            llm[PICK_COLUMNS],
        ],
        ignore_index=True,
    )
    watch = settings.ensemble.combine(picks)
    book.replace("watchlist", sessions, watch.rename(columns={"date": "session"})[JOURNAL_COLUMNS])
    returns = known_returns(book, watch, universe, market_data, bar_rules, discovery, sessions)
    book.replace("watchlist_returns", sessions, returns)
    per_session = watch.groupby("date").size()
    context.add_output_metadata(
        {
            "discovery": "on",
            "llm_picker": symbol_picker.provider,
            "llm_outcomes": outcome_table(llm["outcome"]),
            "symbols_per_session_median": float(per_session.median()) if len(per_session) else 0.0,
            "divergent": int(watch["divergent"].sum()),
            "divergences": MetadataValue.md(_divergences(watch)),
            "returns_filled": len(returns),
        }
    )
    return watch


def known_returns(
    book: BookJournal,
    watch: pd.DataFrame,
    universe: pd.DataFrame,
    market_data: MarketData,
    bar_rules: BarRules,
    discovery: SymbolDiscovery,
    sessions: list[date],
) -> pd.DataFrame:
    """``RETURN_COLUMNS``: every forward return whose last close (D + h) is the close before one of ``sessions``,
    for the entries of this range and the journaled ones of the sessions before it."""
    first = sessions[0]
    before = calendar.previous_session(first).date()
    earlier = book.read("watchlist", start=calendar.session_offset(first, -1 - max(HORIZONS)).date(), end=before)
    suggestions = pd.concat(
        [
            pd.DataFrame({"date": pd.to_datetime(earlier["session"]), "symbol": earlier["symbol"].astype(str)}),
            watch[["date", "symbol"]],
        ],
        ignore_index=True,
    )
    closes, members = _closes_known_before(universe), universe[["date", "symbol", "eligible"]]
    if len(earlier):
        days = sorted(pd.to_datetime(earlier["session"]).dt.date.unique())
        # The candidates change (the paper profile's are the day's most active): a symbol suggested earlier that is
        # no longer one still needs its closes through the session before the range's last.
        candidates = discovery.candidates_of(market_data)
        symbols = None if candidates is None else sorted(set(candidates) | set(earlier["symbol"].astype(str)))
        last = calendar.previous_session(sessions[-1]).date()
        history = discovery_bars(market_data, bar_rules, symbols, days[0], last)
        unlisted = ~history["symbol"].isin(set(universe["symbol"]))
        older = history[(history["date"] < closes["date"].min()) | unlisted]
        closes = pd.concat([older[["date", "symbol", "close", "quarantined"]], closes], ignore_index=True)
        members = pd.concat(
            [point_in_time_universe(history, days, discovery)[["date", "symbol", "eligible"]], members],
            ignore_index=True,
        )
    scored = forward_returns(suggestions, closes, members)
    grid = calendar.sessions(suggestions["date"].min(), sessions[-1]) if len(suggestions) else pd.DatetimeIndex([])
    position = grid.get_indexer(pd.DatetimeIndex(scored["date"]))
    run_days = pd.DatetimeIndex(sessions)
    frames = []
    for h in HORIZONS:
        # Known at the close of D + h, journaled by the run of the session after it.
        at = position + h + 1
        inside = at < len(grid)
        filled_on = pd.DatetimeIndex(np.where(inside, grid[np.minimum(at, len(grid) - 1)], pd.NaT))
        mine = inside & filled_on.isin(run_days)
        frames.append(
            pd.DataFrame(
                {
                    "session": filled_on[mine],
                    "suggested_on": scored["date"].to_numpy()[mine],
                    "symbol": scored["symbol"].to_numpy()[mine],
                    "horizon": float(h),
                    "forward_return": scored[f"return_{h}"].to_numpy()[mine],
                    "universe_return": scored[f"universe_return_{h}"].to_numpy()[mine],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[RETURN_COLUMNS]


def _closes_known_before(universe: pd.DataFrame) -> pd.DataFrame:
    """The clean closes the universe rows carry, as bars of the session before each row's session."""
    days = pd.DatetimeIndex(universe["date"])
    grid = calendar.sessions(calendar.previous_session(days.min()), days.max()) if len(days) else days
    previous = grid[grid.get_indexer(days) - 1] if len(days) else days
    return pd.DataFrame(
        {
            "date": previous,
            "symbol": universe["symbol"].to_numpy(),
            "close": universe["close"].to_numpy(dtype="float64"),
            "quarantined": ~universe["last_bar_clean"].to_numpy(dtype=bool),
        }
    )


def _holdings(book: BookJournal, first: date) -> pd.DataFrame:
    """(date, symbol) of what the book held at the close before ``first``, dated ``first``."""
    positions = book.read("positions", end=calendar.previous_session(first).date())
    if positions.empty:
        return pd.DataFrame({"date": pd.DatetimeIndex([]), "symbol": pd.Series([], dtype=str)})
    last = positions[positions["session"] == positions["session"].max()]
    held = last.loc[last["qty"] > 0, "symbol"].astype(str)
    return pd.DataFrame({"date": pd.Timestamp(first), "symbol": held.to_numpy()})


def _divergences(watch: pd.DataFrame) -> str:
    rows = watch.loc[watch["divergent"], ["date", "symbol", "rank", "divergence"]].tail(MAX_LISTED)
    return rows.assign(date=rows["date"].dt.date).to_markdown(index=False) if len(rows) else "none"
