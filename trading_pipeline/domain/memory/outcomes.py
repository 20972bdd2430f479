"""What happened after each setup, and the session from which that was known.

A setup's outcome is its forward return: close to close from its session D to the symbol's ``horizon``-th
next bar, known at that bar's close, hence ``visible_on`` = that session (D + horizon bars). Optionally it
also carries the trade the selected strategy opened on it: round trips (as ``metrics.round_trips`` returns
them) are matched to the decision that opened them, the symbol's last session before the entry fill (the
daily cycle decides after D's close and fills at the next open), and are known on their exit session.
A session of the memory only ever sees outcomes with ``visible_on`` on or before it (``store.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_pipeline.domain.schema import KEY
from trading_pipeline.domain.symbol_blocks import SymbolBlocks

DEFAULT_HORIZON = 10
OUTCOME_COLUMNS = [*KEY, "forward_return", "visible_on", "trade_return", "trade_visible_on"]
TRIP_COLUMNS = ["symbol", "entry_session", "exit_session", "qty", "entry_price", "pnl"]


def setup_outcomes(
    closes: pd.DataFrame, horizon: int = DEFAULT_HORIZON, round_trips: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``OUTCOME_COLUMNS`` for every (date, symbol) row of ``closes`` whose forward return is known, i.e.
    that has ``horizon`` later bars (the last ``horizon`` rows of a symbol have none yet), sorted by
    (symbol, date).

    ``closes``: date, symbol, close (the clean bars or the indicators frame: a quarantined bar is not a bar,
    so the horizon counts the symbol's clean bars). ``trade_return`` is the net pnl of the trades opened by
    the row's decision over their cost (qty × entry price), ``trade_visible_on`` their last exit session;
    NaN / NaT where no trade was opened.
    """
    if horizon < 1:
        raise ValueError(f"the outcome horizon must be at least 1 session, got {horizon}")
    missing = [c for c in [*KEY, "close"] if c not in closes.columns]
    if missing:
        raise ValueError(f"outcomes need the columns {missing}")
    frame = closes[[*KEY, "close"]].sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    frame["date"] = frame["date"].astype("datetime64[ns]")
    repeated = frame.duplicated(KEY)
    if repeated.any():
        raise ValueError(f"closes hold duplicate (date, symbol) rows, e.g. {frame.loc[repeated, KEY].iloc[0].tolist()}")
    close = frame["close"].to_numpy(dtype="float64")
    if not (np.isfinite(close) & (close > 0)).all():
        raise ValueError("closes must be finite and positive (pass clean bars: quarantined bars dropped)")
    blocks = SymbolBlocks(frame["symbol"])
    later = np.arange(len(frame)) + horizon
    known = later < blocks.first + blocks.size
    out = frame.loc[known, KEY].reset_index(drop=True)
    out["forward_return"] = close[later[known]] / close[known] - 1.0
    out["visible_on"] = frame["date"].to_numpy()[later[known]]
    trades = _trades_by_decision(frame[KEY], round_trips)
    return out.merge(trades, on=KEY, how="left", validate="one_to_one")[OUTCOME_COLUMNS]


def _trades_by_decision(sessions: pd.DataFrame, round_trips: pd.DataFrame | None) -> pd.DataFrame:
    """trade_return and trade_visible_on per decision (date, symbol): the symbol's last session before entry."""
    empty = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "symbol": pd.Series(dtype=object)})
    if round_trips is None or round_trips.empty:
        return empty.assign(trade_return=np.nan, trade_visible_on=pd.Series(dtype="datetime64[ns]"))
    missing = [c for c in TRIP_COLUMNS if c not in round_trips.columns]
    if missing:
        raise ValueError(f"round trips need the columns {missing} (as metrics.round_trips returns them)")
    trips = round_trips[TRIP_COLUMNS].copy()
    for column in ("entry_session", "exit_session"):
        trips[column] = pd.to_datetime(trips[column]).astype("datetime64[ns]")
    if (trips["exit_session"] < trips["entry_session"]).any():
        raise ValueError("a round trip exits before it enters")
    decided = pd.merge_asof(
        trips.sort_values("entry_session", kind="stable"),
        sessions.rename(columns={"date": "decided"}).sort_values("decided", kind="stable"),
        left_on="entry_session",
        right_on="decided",
        by="symbol",
        allow_exact_matches=False,
    )
    orphan = decided["decided"].isna()
    if orphan.any():
        first = decided.loc[orphan].iloc[0]
        raise ValueError(
            f"{int(orphan.sum())} round trip(s) have no session before their entry in the closes, "
            f"e.g. {first['symbol']} entered {first['entry_session'].date()}"
        )
    decided["cost"] = decided["qty"] * decided["entry_price"]
    grouped = decided.groupby(["decided", "symbol"], sort=False)
    out = grouped.agg(pnl=("pnl", "sum"), cost=("cost", "sum"), trade_visible_on=("exit_session", "max"))
    out["trade_return"] = out["pnl"] / out["cost"]
    return out.reset_index().rename(columns={"decided": "date"})[[*KEY, "trade_return", "trade_visible_on"]]
