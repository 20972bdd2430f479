"""The bundled real daily bars (5 stocks, 2000-2013) as indicators and market context, shared by the memory tests."""

from __future__ import annotations

import pandas as pd
import pytest

from trading_pipeline.data import SAMPLE_BARS, SAMPLE_REAL_MOVES
from trading_pipeline.domain.bars import load_bars_file, validate_bars
from trading_pipeline.domain.context import market_context
from trading_pipeline.domain.indicators import compute_indicators


def sample_panel(last: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(indicators, context) of the bundled bars, up to ``last`` if given."""
    bars = validate_bars(load_bars_file(SAMPLE_BARS), accepted_moves=SAMPLE_REAL_MOVES)
    if last is not None:
        bars = bars[bars["date"] <= pd.Timestamp(last)]
    indicators = compute_indicators(bars)
    return indicators, market_context(indicators)


@pytest.fixture(scope="module")
def panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    return sample_panel()
