"""Point-in-time technical indicators over the whole (date, symbol) panel.

Quarantined bars are dropped before anything is computed, so a bad bar never enters a window: the
indicators of a symbol are those of its clean series. Every value on date D depends only on that
symbol's clean bars up to D (trailing windows and per-symbol shifts), which is what makes a backtest over
the full panel equal to replaying it day by day.

Every indicator is computed for all symbols in one pass over the column (rows are contiguous per
symbol): windows are bounded by the symbol's first bar, recursions (Wilder averages) restart per symbol.
The definitions are pandas-ta 0.4's (``talib=False``) to the bit, seed bars included, so the values did
not move when the per-symbol pandas-ta calls were replaced; TA-Lib is the independent reference of the
tests.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from trading_pipeline.domain.schema import KEY, OHLCV
from trading_pipeline.domain.symbol_blocks import SymbolBlocks

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
# The longest window any indicator reads: the history a session needs before its own bar.
LONGEST_LOOKBACK = max(*SMA_LENGTHS, *ROC_LENGTHS, RSI_LENGTH, ATR_LENGTH, 2 * ADX_LENGTH, BBANDS_LENGTH,
                       DONCHIAN_LENGTH + 1, VOLUME_SMA_LENGTH)  # fmt: skip

INDICATOR_COLUMNS = [
    *(f"sma{n}" for n in SMA_LENGTHS),
    f"rsi{RSI_LENGTH}",
    f"atr{ATR_LENGTH}",
    f"adx{ADX_LENGTH}",
    "bb_lower",
    "bb_mid",
    "bb_upper",
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
    panel = _SymbolBlocks(clean["symbol"])
    high, low, close, volume = (clean[c].to_numpy(dtype="float64") for c in ("high", "low", "close", "volume"))

    columns: dict[str, np.ndarray] = {f"sma{n}": panel.sma(close, n) for n in SMA_LENGTHS}
    columns[f"rsi{RSI_LENGTH}"] = _rsi(panel, close)
    columns[f"atr{ATR_LENGTH}"] = _atr(panel, high, low, close)
    columns[f"adx{ADX_LENGTH}"] = _adx(panel, high, low, close)
    # ddof=0: Bollinger bands use the population standard deviation.
    mid = columns[f"sma{BBANDS_LENGTH}"]
    std = np.sqrt(panel.rolling(close, BBANDS_LENGTH).var(ddof=0).to_numpy())
    columns["bb_lower"], columns["bb_mid"], columns["bb_upper"] = mid - BBANDS_STD * std, mid, mid + BBANDS_STD * std
    # Previous N bars only: a breakout compares today's close with the channel of the days before.
    columns[f"donchian_high{DONCHIAN_LENGTH}"] = panel.rolling(panel.shift(high, 1), DONCHIAN_LENGTH).max().to_numpy()
    columns[f"donchian_low{DONCHIAN_LENGTH}"] = panel.rolling(panel.shift(low, 1), DONCHIAN_LENGTH).min().to_numpy()
    for n in ROC_LENGTHS:
        columns[f"roc{n}"] = close / panel.shift(close, n) - 1.0
    columns[f"volume_sma{VOLUME_SMA_LENGTH}"] = panel.rolling(volume, VOLUME_SMA_LENGTH).mean().to_numpy()
    columns["history"] = panel.bar + 1
    return pd.concat([clean, pd.DataFrame(columns)], axis=1)[INDICATOR_FRAME_COLUMNS]


class _SymbolBlocks(SymbolBlocks):
    """The symbol blocks with the averages pandas-ta's indicators are built from."""

    def sma(self, values: np.ndarray, n: int) -> np.ndarray:
        """Mean of the last n bars, as pandas-ta's ``sma`` computes it (a convolution with 1/n weights:
        each window is one dot product, so a window inside a symbol does not see its neighbours)."""
        out = np.full(len(values), np.nan)
        if len(values) >= n:
            out[n - 1 :] = np.convolve(values, np.ones(n) / n, "valid")
        out[self.bar < n - 1] = np.nan
        return out

    def wilder(self, values: np.ndarray, n: int) -> np.ndarray:
        """Wilder's average (``ewm(alpha=1/n, adjust=False)``) restarted per symbol; like pandas-ta's
        ``rma`` it starts on a symbol's first non-NaN value without any warm-up mask."""
        by_symbol = pd.Series(values, copy=False).groupby(self.codes, sort=False)
        return by_symbol.ewm(alpha=1.0 / n, adjust=False).mean().to_numpy()

    def head_mean(self, values: np.ndarray, n: int) -> np.ndarray:
        """Per row, the mean of its symbol's first n values as pandas' ``Series.mean`` computes it (numpy's
        pairwise sum of the n values, then / n); NaN for a shorter symbol."""
        out = np.full(len(self.starts), np.nan)
        long = self.length >= n
        out[long] = values[self.starts[long, None] + np.arange(n)].sum(axis=1) / n
        return np.repeat(out, self.length)

    def by_bar(self, values: np.ndarray) -> np.ndarray:
        """``values`` as a (bar, symbol) matrix, NaN past a symbol's last bar: a recursion over bars then
        advances every symbol at once."""
        out = np.full((int(self.length.max(initial=0)), len(self.length)), np.nan)
        out[self.bar, self.codes] = values
        return out

    def from_bar(self, matrix: np.ndarray) -> np.ndarray:
        """The rows of a (bar, symbol) matrix back in panel order."""
        return matrix[self.bar, self.codes]


def _rsi(panel: _SymbolBlocks, close: np.ndarray) -> np.ndarray:
    """pandas-ta's RSI (Wilder averages of the gains and losses from the second bar on), NaN on the first
    RSI_LENGTH bars (fewer than RSI_LENGTH price changes), as TA-Lib does."""
    change = close - panel.shift(close, 1)
    gain = panel.wilder(np.where(change < 0, 0.0, change), RSI_LENGTH)
    loss = panel.wilder(np.where(change > 0, 0.0, change), RSI_LENGTH)
    with np.errstate(invalid="ignore", divide="ignore"):
        rsi = 100.0 * gain / (gain + np.abs(loss))
    return np.where(panel.bar >= RSI_LENGTH, rsi, np.nan)


def _true_range(
    panel: _SymbolBlocks, high: np.ndarray, low: np.ndarray, close: np.ndarray, zero_span_epsilon: bool
) -> np.ndarray:
    """max(high - low, |high - previous close|, |previous close - low|); the first bar's is high - low.

    ``zero_span_epsilon``: as in pandas-ta, a symbol with any bar of zero range gets machine epsilon added
    to every high - low (TA-Lib does not).
    """
    span = high - low
    if zero_span_epsilon:
        flat = np.bincount(panel.codes, weights=span == 0, minlength=len(panel.length)) > 0
        span = np.where(flat[panel.codes], span + sys.float_info.epsilon, span)
    previous = panel.shift(close, 1)
    return np.fmax(np.abs(span), np.fmax(np.abs(high - previous), np.abs(previous - low)))


def _atr(panel: _SymbolBlocks, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """pandas-ta's ATR: Wilder's average of the true range seeded, on bar ATR_LENGTH - 1, with the mean of
    the first ATR_LENGTH true ranges; NaN before the seed and for a symbol of at most ATR_LENGTH bars."""
    true_range = _true_range(panel, high, low, close, zero_span_epsilon=True)
    seeded = np.where(panel.bar == ATR_LENGTH - 1, panel.head_mean(true_range, ATR_LENGTH), true_range)
    seeded[panel.bar < ATR_LENGTH - 1] = np.nan
    return np.where(panel.size > ATR_LENGTH, panel.wilder(seeded, ATR_LENGTH), np.nan)


def _talib_atr(panel: _SymbolBlocks, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """TA-Lib's ATR, operation for operation: the plain sum of the true ranges of bars 1..ATR_LENGTH over
    ATR_LENGTH on bar ATR_LENGTH, then ``(atr * (ATR_LENGTH - 1) + true range) / ATR_LENGTH``; NaN before."""
    n = ATR_LENGTH
    true_range = panel.by_bar(_true_range(panel, high, low, close, zero_span_epsilon=False))
    out = np.full_like(true_range, np.nan)
    if len(true_range) > n:
        atr = true_range[1].copy()
        for row in true_range[2 : n + 1]:
            atr += row
        atr /= n
        out[n] = atr
        for bar in range(n + 1, len(true_range)):
            atr = (atr * (n - 1) + true_range[bar]) / n
            out[bar] = atr
    return panel.from_bar(out)


def _adx(panel: _SymbolBlocks, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """pandas-ta's ADX: Wilder's average of DX, itself from Wilder averages of +DM and -DM over the ATR.

    The ATR that scales the DIs is TA-Lib's: pandas-ta's ``adx`` calls its ``atr`` without passing
    ``talib=False``, so with TA-Lib installed (as in every environment of this project) it used TA-Lib's.
    pandas-ta's averages have no warm-up, so the first 2 * ADX_LENGTH - 1 bars are masked (ADX_LENGTH
    directional moves to seed DX, then ADX_LENGTH DX values to seed ADX), as TA-Lib does. The remaining
    seed gap to TA-Lib decays like the RSI/ATR one.
    """
    scale = 100.0 / _talib_atr(panel, high, low, close)
    up = high - panel.shift(high, 1)
    down = panel.shift(low, 1) - low
    plus = _directional_move(up, (up > down) & (up > 0))
    minus = _directional_move(down, (down > up) & (down > 0))
    plus_di = scale * panel.wilder(plus, ADX_LENGTH)
    minus_di = scale * panel.wilder(minus, ADX_LENGTH)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = 100.0 * np.abs(plus_di - minus_di) / (plus_di + minus_di)
    return np.where(panel.bar >= 2 * ADX_LENGTH - 1, panel.wilder(dx, ADX_LENGTH), np.nan)


def _directional_move(move: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """``move`` where it counts, else 0; |values| below machine epsilon are 0 and NaN (first bar) stays NaN."""
    out = np.where(taken, move, np.where(np.isnan(move), np.nan, 0.0))
    out[np.abs(out) < sys.float_info.epsilon] = 0.0
    return out
