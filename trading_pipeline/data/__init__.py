"""Bundled sample data, so demos and tests run offline without the shared data directory."""

from __future__ import annotations

from datetime import date
from pathlib import Path

# Quandl WIKI daily bars (public domain), split- and dividend-adjusted, 2000-03-01..2013-03-01;
# rebuilt by ``python -m trading_pipeline.data.bundle``.
SAMPLE_BARS: Path = Path(__file__).with_name("daily_5stocks.parquet")
SAMPLE_SYMBOLS: tuple[str, ...] = ("AAPL", "FB", "GOOG", "IBM", "MSFT")
# The sample's moves beyond the bar validation's jump limit that are real (AAPL's -52% day after its profit
# warning); validation quarantines them unless accepted, as the bundle does and a run over them must.
SAMPLE_REAL_MOVES: frozenset[tuple[str, date]] = frozenset({("AAPL", date(2000, 9, 29))})
