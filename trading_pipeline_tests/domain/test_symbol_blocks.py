"""The one-pass per-symbol operations equal pandas' groupby per symbol."""

import numpy as np
import pandas as pd

from trading_pipeline.domain.symbol_blocks import SymbolBlocks


def test_shift_ffill_cumprod_match_pandas_groupby() -> None:
    rng = np.random.default_rng(5)
    symbol = pd.Series(np.repeat(["A", "B", "C"], [6, 1, 9]))
    values = np.where(rng.random(len(symbol)) < 0.4, np.nan, rng.normal(size=len(symbol)))
    runs, grouped = SymbolBlocks(symbol), pd.Series(values).groupby(symbol, sort=False)
    np.testing.assert_array_equal(runs.shift(values, fill=-1.0), grouped.shift(1).where(runs.bar > 0, -1.0))
    np.testing.assert_array_equal(runs.ffill(values), grouped.ffill())
    filled = np.nan_to_num(values) + 1.0
    np.testing.assert_array_equal(runs.cumprod(filled), pd.Series(filled).groupby(symbol, sort=False).cumprod())


def test_shift_by_n_and_rolling_stop_at_the_symbol_boundary() -> None:
    symbol = pd.Series(np.repeat(["A", "B"], [5, 3]))
    values = np.arange(8, dtype="float64")
    blocks, grouped = SymbolBlocks(symbol), pd.Series(values).groupby(symbol, sort=False)
    np.testing.assert_array_equal(blocks.shift(values, 2), grouped.shift(2))
    np.testing.assert_array_equal(blocks.shift(values, 9), np.full(8, np.nan))  # longer than the column
    expected = grouped.rolling(3).sum().droplevel(0)
    np.testing.assert_array_equal(blocks.rolling(values, 3).sum().to_numpy(), expected)
