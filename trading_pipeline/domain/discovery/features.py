"""Discovery features per (session, symbol), as known at the close of the session before.

The row of session D describes the symbol at the close of D-1 (the previous NYSE session) and exists only
when the symbol has a bar dated D-1: a symbol that stopped trading, or skipped D-1, has no row on D and
cannot be chosen. Price features come from the symbol's clean bars only (a quarantined bar never enters a
window, as in ``indicators.py``); the data quality comes from all its bars. Rows are computed for every
session at once, and the last bar of the panel already gives the row of the session after it, which is
what a live cycle needs before that session's bars exist.

- ``history``: clean bars up to D-1
- ``close``: the last clean close
- ``dollar_volume``: mean close x volume over the last ``WINDOW`` clean bars
- ``spread``: mean (high - low) / close over the last ``WINDOW`` clean bars, a range-based proxy of the cost
  of trading (it grows with the spread and with the intraday swing; the Abdi-Ranaldo estimator was tried and
  is zero on nearly half of the S&P 500's 20-session windows, too noisy to filter on)
- ``volatility``: standard deviation of the last ``WINDOW`` clean close-to-close returns
- ``momentum``: return over the last ``MOMENTUM_BARS`` clean bars
- ``quarantined_share``: share of quarantined bars among the symbol's last ``WINDOW`` bars (fewer while it
  has fewer)
- ``last_bar_clean``: the bar of D-1 itself is clean
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_pipeline.domain import calendar
from trading_pipeline.domain.schema import KEY
from trading_pipeline.domain.symbol_blocks import SymbolBlocks

WINDOW = 20
MOMENTUM_BARS = 60
# Clean bars needed for every feature to be defined.
FEATURE_HISTORY = MOMENTUM_BARS + 1

PRICE_FEATURES = ["history", "close", "dollar_volume", "spread", "volatility", "momentum"]
FEATURE_COLUMNS = [*KEY, *PRICE_FEATURES, "quarantined_share", "last_bar_clean"]
INPUT_COLUMNS = [*KEY, "high", "low", "close", "volume", "quarantined"]


def discovery_features(bars: pd.DataFrame) -> pd.DataFrame:
    """``FEATURE_COLUMNS`` for every (session, symbol) whose symbol has a bar on the previous session, sorted
    by (symbol, date); ``bars`` as ``validate_bars`` returns them (only the columns of ``INPUT_COLUMNS`` are read).
    """
    ordered = _checked(bars)
    quarantined = ordered["quarantined"].to_numpy(dtype=bool)
    blocks = SymbolBlocks(ordered["symbol"])
    rows = np.arange(len(ordered))
    # Per row, its symbol's last clean row so far, as a position among the clean rows.
    last_clean = np.maximum.accumulate(np.where(quarantined, -1, rows)) if len(rows) else rows
    has_clean = last_clean >= blocks.first
    slot = np.where(has_clean, np.cumsum(~quarantined) - 1, 0)
    stats = _clean_stats(ordered.loc[~quarantined])

    columns: dict[str, np.ndarray] = {
        name: np.where(has_clean, values[slot] if len(values) else np.nan, np.nan) for name, values in stats.items()
    }
    columns["history"] = np.where(has_clean, columns["history"], 0).astype("int64")
    columns["quarantined_share"] = _trailing_share(blocks, quarantined)
    columns["last_bar_clean"] = ~quarantined

    session, on_session = _next_sessions(ordered["date"])
    out = pd.DataFrame({"date": session, "symbol": ordered["symbol"], **columns})
    return out.loc[on_session, FEATURE_COLUMNS].reset_index(drop=True)


def _checked(bars: pd.DataFrame) -> pd.DataFrame:
    """The input columns sorted by (symbol, date); a clear error for anything features cannot be built on."""
    missing = [c for c in INPUT_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"bars lack column(s) {missing}: discovery reads validated bars ({INPUT_COLUMNS})")
    if not pd.api.types.is_datetime64_dtype(bars["date"]):
        raise ValueError(f"bars 'date' must be tz-naive datetime64, got {bars['date'].dtype}")
    if not pd.api.types.is_bool_dtype(bars["quarantined"]):
        raise ValueError(f"bars 'quarantined' must be boolean, got {bars['quarantined'].dtype}")
    ordered = bars[INPUT_COLUMNS].sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    repeated = ordered.duplicated(KEY)
    if repeated.any():
        row = ordered.loc[repeated.idxmax()]
        raise ValueError(f"bars repeat ({row['date'].date()}, {row['symbol']}): validate the bars first")
    clean = ordered.loc[~ordered["quarantined"], ["high", "low", "close", "volume"]].to_numpy(dtype="float64")
    bad = ~(np.isfinite(clean).all(axis=1) & (clean[:, :3] > 0).all(axis=1) & (clean[:, 3] >= 0))
    if bad.any():
        row = ordered.loc[~ordered["quarantined"]].iloc[int(np.argmax(bad))]
        raise ValueError(
            f"clean bar ({row['date'].date()}, {row['symbol']}) has a missing, non-positive price or a negative "
            "volume: validate the bars first"
        )
    return ordered


def _clean_stats(clean: pd.DataFrame) -> dict[str, np.ndarray]:
    """The price features of every clean bar, over the symbol's clean series only."""
    blocks = SymbolBlocks(clean["symbol"])
    high, low, close, volume = (clean[c].to_numpy(dtype="float64") for c in ("high", "low", "close", "volume"))
    returns = close / blocks.shift(close) - 1.0
    return {
        "history": (blocks.bar + 1).astype("float64"),
        "close": close,
        "dollar_volume": blocks.rolling(close * volume, WINDOW).mean().to_numpy(),
        "spread": blocks.rolling((high - low) / close, WINDOW).mean().to_numpy(),
        "volatility": blocks.rolling(returns, WINDOW).std().to_numpy(),
        "momentum": close / blocks.shift(close, MOMENTUM_BARS) - 1.0,
    }


def _trailing_share(blocks: SymbolBlocks, flags: np.ndarray) -> np.ndarray:
    """Share of ``flags`` among each row's last ``WINDOW`` rows of its symbol (its rows so far while fewer)."""
    counted = np.r_[0, np.cumsum(flags)]
    rows = np.arange(len(flags))
    start = np.maximum(rows + 1 - WINDOW, blocks.first)
    return (counted[rows + 1] - counted[start]) / (rows + 1 - start)


def _next_sessions(dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per bar, the session after its date, and whether its date is a session (a bar of a non-session
    day, quarantined anyway, starts no row)."""
    if dates.empty:
        return dates.to_numpy(), np.zeros(0, dtype=bool)
    known = calendar.sessions(dates.min(), calendar.next_session(dates.max()))
    position = known.searchsorted(dates)
    on_session = known[np.minimum(position, len(known) - 1)] == dates.to_numpy()
    following = np.minimum(position + on_session, len(known) - 1)
    return known[following].to_numpy().astype(dates.dtype), on_session
