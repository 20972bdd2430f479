"""Hand-built panels for the discovery tests: bars on real NYSE sessions, and feature rows set directly."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_pipeline.domain import calendar
from trading_pipeline.domain.discovery.features import FEATURE_COLUMNS

START = "2021-01-04"


def sessions(n: int, start: str = START) -> pd.DatetimeIndex:
    """The first n NYSE sessions from ``start``, as datetime64[ns] like the bars."""
    return calendar.sessions(start, calendar.session_offset(start, n - 1)).astype("datetime64[ns]")


def bars(
    closes: dict[str, list[float]], start: str = START, quarantined: dict[str, list[int]] | None = None
) -> pd.DataFrame:
    """Validated-bars layout: each symbol's closes on consecutive sessions from ``start`` (NaN: no bar that
    day), a 2% range around the close, a volume that grows by bar, and the listed bar positions quarantined."""
    frames = []
    for symbol, values in closes.items():
        close = np.asarray(values, dtype="float64")
        days = sessions(len(close), start)
        flags = np.zeros(len(close), dtype=bool)
        flags[(quarantined or {}).get(symbol, [])] = True
        frame = pd.DataFrame(
            {
                "date": days,
                "symbol": symbol,
                "open": close,
                "high": close * 1.01,
                "low": close * 0.99,
                "close": close,
                "volume": 1_000.0 + 10.0 * np.arange(len(close)),
                "quarantined": flags,
            }
        )
        frames.append(frame[~np.isnan(close)])
    return pd.concat(frames, ignore_index=True).sort_values(["symbol", "date"], ignore_index=True)


def features(**columns: list) -> pd.DataFrame:
    """Discovery feature rows, one per list element: a liquid, calm, clean symbol unless a column says otherwise."""
    n = len(next(iter(columns.values())))
    base = {
        "date": pd.Timestamp("2021-06-01"),
        "symbol": [f"S{k}" for k in range(n)],
        "history": 500,
        "close": 50.0,
        "dollar_volume": 2e8,
        "spread": 0.015,
        "volatility": 0.015,
        "momentum": 0.05,
        "quarantined_share": 0.0,
        "last_bar_clean": True,
    }
    frame = pd.DataFrame({name: columns.get(name, value) for name, value in base.items()}, index=range(n))
    return frame[FEATURE_COLUMNS]
