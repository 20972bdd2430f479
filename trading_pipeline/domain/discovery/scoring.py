"""What happened after each suggestion: forward returns, the equal-weight universe's over the same window, and
a summary per picker.

The forward return over h sessions of a suggestion for session D is close(D + h) / close(D) - 1, both clean
bars of the symbol, D + h counted in NYSE sessions. It stays NaN until the bar of D + h is in the panel (and
for good when that bar is missing or quarantined), so a score is never filled early. The universe's return is
the mean of the same returns over the symbols eligible on D that have one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_pipeline.domain import calendar

HORIZONS = (1, 5, 20)
SUMMARY_COLUMNS = ["picker", "horizon", "suggestions", "scored", "hit_rate", "mean_excess", "trade_rate"]


def forward_returns(
    suggestions: pd.DataFrame, bars: pd.DataFrame, universe: pd.DataFrame, horizons: tuple[int, ...] = HORIZONS
) -> pd.DataFrame:
    """``suggestions`` (any frame with date, symbol) with ``return_<h>`` and ``universe_return_<h>`` per horizon.

    ``bars``: validated bars (date, symbol, close, quarantined); ``universe``: rows (date, symbol, eligible).
    """
    if any(h < 1 for h in horizons):
        raise ValueError(f"horizons must be >= 1 session, got {horizons}")
    closes = _clean_closes(bars)
    members = _eligible(universe, closes)
    day = _positions(closes.index, suggestions["date"])
    symbol = closes.columns.get_indexer(suggestions["symbol"])
    found = (day >= 0) & (symbol >= 0)
    out = suggestions.copy()
    for h in horizons:
        returns = _returns(closes.to_numpy(), h)
        with np.errstate(invalid="ignore"):
            counted = members & np.isfinite(returns)
            mean = np.where(counted, returns, 0.0).sum(axis=1) / counted.sum(axis=1)
        out[f"return_{h}"] = np.where(found, returns[day, symbol], np.nan)
        out[f"universe_return_{h}"] = np.where(day >= 0, mean[day], np.nan)
    return out


def picker_summary(
    scored: pd.DataFrame, traded: pd.DataFrame | None = None, horizons: tuple[int, ...] = HORIZONS
) -> pd.DataFrame:
    """``SUMMARY_COLUMNS`` per picker and horizon, from :func:`forward_returns` of suggestions with a
    ``picker`` column: ``scored`` suggestions have both returns; ``hit_rate`` is the share of them beating the
    universe, ``mean_excess`` their mean return over it; ``trade_rate`` the share of all the picker's
    suggestions whose (session, symbol) is in ``traded`` (NaN without it)."""
    traded_keys = None if traded is None else pd.MultiIndex.from_frame(traded[["date", "symbol"]])
    rows = []
    for picker, group in scored.groupby("picker", sort=True):
        trade_rate = (
            np.nan
            if traded_keys is None
            else float(pd.MultiIndex.from_frame(group[["date", "symbol"]]).isin(traded_keys).mean())
        )
        for h in horizons:
            excess = (group[f"return_{h}"] - group[f"universe_return_{h}"]).dropna()
            rows.append(
                {
                    "picker": picker,
                    "horizon": h,
                    "suggestions": len(group),
                    "scored": len(excess),
                    "hit_rate": float((excess > 0).mean()) if len(excess) else np.nan,
                    "mean_excess": float(excess.mean()) if len(excess) else np.nan,
                    "trade_rate": trade_rate,
                }
            )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _clean_closes(bars: pd.DataFrame) -> pd.DataFrame:
    """Clean closes as a (session, symbol) matrix over the sessions the bars span; NaN where no clean bar."""
    missing = [c for c in ("date", "symbol", "close", "quarantined") if c not in bars.columns]
    if missing:
        raise ValueError(f"bars lack column(s) {missing}")
    clean = bars.loc[~bars["quarantined"].astype(bool), ["date", "symbol", "close"]]
    if bars.empty:
        return pd.DataFrame(dtype="float64", index=pd.DatetimeIndex([]))
    sessions = calendar.sessions(bars["date"].min(), bars["date"].max()).astype(bars["date"].dtype)
    matrix = clean.pivot(index="date", columns="symbol", values="close")
    return matrix.reindex(sessions)


def _eligible(universe: pd.DataFrame, closes: pd.DataFrame) -> np.ndarray:
    """The universe as a boolean matrix aligned with ``closes``."""
    rows = universe.loc[universe["eligible"].astype(bool)]
    day = _positions(closes.index, rows["date"])
    symbol = closes.columns.get_indexer(rows["symbol"])
    inside = (day >= 0) & (symbol >= 0)
    members = np.zeros(closes.shape, dtype=bool)
    members[day[inside], symbol[inside]] = True
    return members


def _returns(closes: np.ndarray, h: int) -> np.ndarray:
    """close h sessions later over close, minus 1; NaN in the last h sessions (the later bar does not exist)."""
    later = np.full_like(closes, np.nan)
    later[: max(len(closes) - h, 0)] = closes[h:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return later / closes - 1.0


def _positions(sessions: pd.DatetimeIndex, dates: pd.Series) -> np.ndarray:
    """Each date's row in ``sessions``, -1 when it is not one of them (e.g. the session after the last bar)."""
    return sessions.get_indexer(pd.DatetimeIndex(dates))
