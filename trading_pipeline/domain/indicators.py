"""Point-in-time technical indicators over the whole (date, symbol) panel.

Quarantined bars are dropped before anything is computed, so a bad bar never enters a window: the
indicators of a symbol are those of its clean series. Every value on date D depends only on that
symbol's clean bars up to D (trailing windows and ``shift``), which is what makes a backtest over the
full panel equal to replaying it day by day.

The classic indicators come from pandas-ta, always with ``talib=False``: TA-Lib is installed for the
tests as an independent reference, and pandas-ta would otherwise silently switch to it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas_ta as ta

from trading_pipeline.domain.schema import KEY, OHLCV

# Indicator windows (bars).
SMA_LENGTHS = (20, 50, 200)
RSI_LENGTH = 14
ATR_LENGTH = 14
ADX_LENGTH = 14
BBANDS_LENGTH = 20
BBANDS_STD = 2.0
DONCHIAN_LENGTH = 20
ROC_LENGTHS = (20, 126)
VOLUME_SMA_LENGTH = 20

_PANDAS_TA_COLUMNS = [
    *(f"sma{n}" for n in SMA_LENGTHS),
    f"rsi{RSI_LENGTH}",
    f"atr{ATR_LENGTH}",
    f"adx{ADX_LENGTH}",
    "bb_lower",
    "bb_mid",
    "bb_upper",
]
INDICATOR_COLUMNS = [
    *_PANDAS_TA_COLUMNS,
    f"donchian_high{DONCHIAN_LENGTH}",
    f"donchian_low{DONCHIAN_LENGTH}",
    *(f"roc{n}" for n in ROC_LENGTHS),
    f"volume_sma{VOLUME_SMA_LENGTH}",
    "history",
]
INDICATOR_FRAME_COLUMNS = [*KEY, *OHLCV, *INDICATOR_COLUMNS]


def compute_indicators(bars: pd.DataFrame) -> pd.DataFrame:
    """Indicators of every clean bar, keyed by (date, symbol), sorted by (symbol, date), RangeIndex.

    ``history`` is the 1-based count of clean bars of the symbol so far; strategies use it for their
    minimum-history rule. Indicators are NaN while a symbol has fewer bars than their window
    (``adx14``: NaN on the first 27 bars, i.e. defined from the 28th clean bar on).
    """
    clean = (
        bars.loc[~bars["quarantined"].astype(bool), [*KEY, *OHLCV]]
        .sort_values(["symbol", "date"], kind="stable")
        .reset_index(drop=True)
    )
    by_symbol = clean.groupby("symbol", sort=False)
    clean["history"] = by_symbol.cumcount() + 1

    ta_values = _pandas_ta_per_symbol(clean)
    for column in _PANDAS_TA_COLUMNS:
        clean[column] = ta_values[column]

    high, low = by_symbol["high"], by_symbol["low"]
    # Previous N bars only: a breakout compares today's close with the channel of the days before.
    clean[f"donchian_high{DONCHIAN_LENGTH}"] = (
        high.shift(1).groupby(clean["symbol"], sort=False).rolling(DONCHIAN_LENGTH).max().droplevel(0)
    )
    clean[f"donchian_low{DONCHIAN_LENGTH}"] = (
        low.shift(1).groupby(clean["symbol"], sort=False).rolling(DONCHIAN_LENGTH).min().droplevel(0)
    )
    for n in ROC_LENGTHS:
        clean[f"roc{n}"] = clean["close"] / by_symbol["close"].shift(n) - 1.0
    clean[f"volume_sma{VOLUME_SMA_LENGTH}"] = (
        by_symbol["volume"].rolling(VOLUME_SMA_LENGTH).mean().droplevel(0)
    )
    return clean[INDICATOR_FRAME_COLUMNS]


def _pandas_ta_per_symbol(clean: pd.DataFrame) -> dict[str, np.ndarray]:
    """Run pandas-ta once per symbol over its whole clean series (rows contiguous per symbol)."""
    out = {column: np.full(len(clean), np.nan) for column in _PANDAS_TA_COLUMNS}
    symbols = clean["symbol"].to_numpy()
    starts = np.flatnonzero(np.r_[True, symbols[1:] != symbols[:-1]])
    ends = np.r_[starts[1:], len(clean)]
    high = clean["high"].astype("float64")
    low = clean["low"].astype("float64")
    close = clean["close"].astype("float64")
    for start, end in zip(starts, ends, strict=True):
        rows = slice(start, end)
        for column, values in _pandas_ta_symbol(high.iloc[rows], low.iloc[rows], close.iloc[rows]).items():
            out[column][rows] = values
    return out


def _pandas_ta_symbol(high: pd.Series, low: pd.Series, close: pd.Series) -> dict[str, np.ndarray]:
    """pandas-ta indicators of one symbol (pandas-ta returns None for a series shorter than the window)."""
    result: dict[str, pd.Series | None] = {
        f"sma{n}": ta.sma(close, length=n, talib=False) for n in SMA_LENGTHS
    }
    rsi = ta.rsi(close, length=RSI_LENGTH, talib=False)
    # pandas-ta's Wilder average is an EWM without warm-up: it emits an RSI from the second bar on.
    # Mask the first RSI_LENGTH bars (fewer than RSI_LENGTH price changes), as TA-Lib does.
    result[f"rsi{RSI_LENGTH}"] = None if rsi is None else rsi.where(np.arange(len(rsi)) >= RSI_LENGTH)
    result[f"atr{ATR_LENGTH}"] = ta.atr(high, low, close, length=ATR_LENGTH, talib=False)
    # ADX is Wilder's average of DX, itself built from Wilder averages of +DM, -DM and the true range.
    # pandas-ta's EWMs have no warm-up, so it emits an ADX from bar index ADX_LENGTH on; mask the first
    # 2 * ADX_LENGTH - 1 bars (ADX_LENGTH directional moves to seed DX, then ADX_LENGTH DX values to
    # seed ADX), as TA-Lib does. The remaining seed gap decays like the RSI/ATR one.
    adx = ta.adx(high, low, close, length=ADX_LENGTH, talib=False)
    result[f"adx{ADX_LENGTH}"] = (
        None
        if adx is None
        else adx[f"ADX_{ADX_LENGTH}"].where(np.arange(len(adx)) >= 2 * ADX_LENGTH - 1)
    )
    # ddof=0: Bollinger bands use the population standard deviation (pandas-ta defaults to ddof=1).
    bands = ta.bbands(
        close, length=BBANDS_LENGTH, lower_std=BBANDS_STD, upper_std=BBANDS_STD, ddof=0, talib=False
    )
    for name, position in (("bb_lower", 0), ("bb_mid", 1), ("bb_upper", 2)):
        result[name] = None if bands is None else bands.iloc[:, position]
    return {
        column: np.full(len(close), np.nan) if series is None else series.to_numpy(dtype="float64")
        for column, series in result.items()
    }
