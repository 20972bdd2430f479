"""Setup vectors: the market context of every (symbol, session) as one fixed-order numeric vector.

The features (``FEATURES``, in this order) are those the context and the strategies read:

- ``trend`` = sma50 / sma200 - 1 (the signed distance of the moving averages whose sign is the context's
  trend direction), ``adx14`` (trend strength), ``rsi14``, ``atr_pct`` = atr14 / close, ``roc20``, ``roc126``,
- ``log_volume_ratio`` = log(volume / volume_sma20): volume spikes are multiplicative, and a 10x day in
  plain ratio would outweigh every other feature of the distance,
- ``bb_position`` = (close - bb_lower) / (bb_upper - bb_lower): 0 on the lower band, 1 on the upper one,

each z-scored, then the regime one-hot (``REGIME_FEATURES``) times ``REGIME_WEIGHT``.

**Z-scores: per symbol, over a rolling window** of its last ``ZSCORE_WINDOW`` bars (today included, since
the decision is made after the close), from at least ``ZSCORE_MIN_OBSERVATIONS`` defined values. Per
symbol, so that a vector depends only on its own symbol's bars up to its session: adding or dropping a
symbol never changes a stored vector (the store is append-only), and features whose level differs between
stocks (a utility's ATR% against a biotech's) compare as "unusual for this stock". Rolling rather than
expanding, so that every vector means the same thing, "against this stock's last year" (the span of the
context's volatility baseline), whether the symbol has ten years of history or two: an expanding z-score
would weigh an old crisis forever and give a long-listed symbol a different scale from a new one.

**Grid.** Each z-score is clipped to ±``Z_CLIP`` and rounded to a multiple of 1/``GRID``, and the regime
weight is on that grid. Every squared distance between two grid vectors is then an exact float32 whatever
the order of its sums (see ``store.py``), so the numpy store and pgvector (float32 vectors, sums ordered
by the compiler) compute identical distances and rank neighbours identically. The clip also keeps one
outlier feature (a price gap) from deciding a distance alone; 1/64 of a standard deviation is far below
any difference of setups that matters.

**Rows without a full vector are not returned** (hence never stored): any undefined feature (the
warm-ups: sma200 needs 200 bars and its z-score ``ZSCORE_MIN_OBSERVATIONS`` values of it, so a symbol's
first vector is on its 325th bar; a zero volume; a flat Bollinger band; a constant window) or the
``insufficient_history`` regime. A partial vector has no honest distance: filling a gap with 0 (the window
mean) would invent a likeness to average setups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_pipeline.domain.schema import KEY
from trading_pipeline.domain.symbol_blocks import SymbolBlocks, Windows

ZSCORE_WINDOW = 252
ZSCORE_MIN_OBSERVATIONS = 126
Z_CLIP = 8.0
GRID = 64
# A different regime adds 2 * 0.75² = 1.125 to the squared distance: about one feature one standard deviation
# apart. The regime is mostly a summary of the trend, ADX and ATR features already present, so it tips
# close calls rather than deciding them.
REGIME_WEIGHT = 0.75

Z_FEATURES = ("trend", "adx14", "rsi14", "atr_pct", "roc20", "roc126", "log_volume_ratio", "bb_position")
REGIME_FEATURES = ("trending_up", "trending_down", "ranging", "volatile")
FEATURES = (*Z_FEATURES, *(f"regime_{name}" for name in REGIME_FEATURES))
VECTOR_COLUMNS = [*KEY, *FEATURES]
INDICATOR_INPUTS = (
    "close",
    "volume",
    "sma50",
    "sma200",
    "adx14",
    "rsi14",
    "atr14",
    "roc20",
    "roc126",
    "volume_sma20",
    "bb_lower",
    "bb_upper",
)


def setup_vectors(indicators: pd.DataFrame, context: pd.DataFrame) -> pd.DataFrame:
    """``VECTOR_COLUMNS`` for every row of ``indicators`` (sorted by symbol, date, as ``compute_indicators``
    returns it) that has a full vector; ``context`` is ``market_context(indicators)``, row for row.

    Raises ValueError if the frames are not aligned or not sorted by (symbol, date) without duplicates.
    """
    _check_panel(indicators, context)
    blocks = SymbolBlocks(indicators["symbol"])
    raw = _raw_features(indicators)
    z = np.column_stack([_rolling_zscore(raw[name], blocks) for name in Z_FEATURES])
    regime = context["regime"].to_numpy(dtype=object)
    onehot = (regime[:, None] == np.asarray(REGIME_FEATURES, dtype=object)) * REGIME_WEIGHT
    full = np.isfinite(z).all(axis=1) & onehot.any(axis=1)
    values = np.hstack([on_grid(z[full]), onehot[full]])
    out = pd.DataFrame(values, columns=list(FEATURES))
    out.insert(0, "symbol", indicators["symbol"].to_numpy()[full])
    out.insert(0, "date", indicators["date"].to_numpy()[full])
    return out


def no_vectors() -> pd.DataFrame:
    """An empty ``VECTOR_COLUMNS`` frame with setup_vectors' dtypes."""
    return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "symbol": pd.Series(dtype=object)}).assign(
        **{name: pd.Series(dtype="float64") for name in FEATURES}
    )


def on_grid(z: np.ndarray) -> np.ndarray:
    """Z-scores clipped to ±Z_CLIP and rounded to the nearest multiple of 1/GRID."""
    return np.round(np.clip(z, -Z_CLIP, Z_CLIP) * GRID) / GRID


def _raw_features(indicators: pd.DataFrame) -> dict[str, np.ndarray]:
    column = {c: indicators[c].to_numpy(dtype="float64") for c in INDICATOR_INPUTS}
    close = column["close"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "trend": column["sma50"] / column["sma200"] - 1.0,
            "adx14": column["adx14"],
            "rsi14": column["rsi14"],
            "atr_pct": column["atr14"] / close,
            "roc20": column["roc20"],
            "roc126": column["roc126"],
            "log_volume_ratio": np.log(column["volume"] / column["volume_sma20"]),
            "bb_position": (close - column["bb_lower"]) / (column["bb_upper"] - column["bb_lower"]),
        }


def _rolling_zscore(values: np.ndarray, blocks: SymbolBlocks) -> np.ndarray:
    """(value - mean) / sample std over the symbol's last ZSCORE_WINDOW rows, today included; NaN with fewer
    than ZSCORE_MIN_OBSERVATIONS finite values or a zero std. Each symbol's window restarts at its first row,
    so a row depends on its own symbol's earlier rows only."""
    finite = np.where(np.isfinite(values), values, np.nan)
    end = np.arange(1, len(values) + 1, dtype=np.int64)
    bounds = Windows(start=np.maximum(end - ZSCORE_WINDOW, blocks.first).astype(np.int64), end=end)
    window = pd.Series(finite, copy=False).rolling(bounds, min_periods=ZSCORE_MIN_OBSERVATIONS)
    mean, std = window.mean().to_numpy(), window.std(ddof=1).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, (finite - mean) / std, np.nan)


def _check_panel(indicators: pd.DataFrame, context: pd.DataFrame) -> None:
    missing = [c for c in [*KEY, *INDICATOR_INPUTS] if c not in indicators.columns]
    if missing:
        raise ValueError(f"setup vectors need the indicator columns {missing}")
    if "regime" not in context.columns:
        raise ValueError("setup vectors need the context's regime column (market_context)")
    if len(context) != len(indicators) or not (
        (context["date"].to_numpy() == indicators["date"].to_numpy()).all()
        and (context["symbol"].to_numpy() == indicators["symbol"].to_numpy()).all()
    ):
        raise ValueError("context and indicators must hold the same (date, symbol) rows in the same order")
    symbol, date = indicators["symbol"].to_numpy(), indicators["date"].to_numpy()
    same = symbol[1:] == symbol[:-1]
    unsorted = (same & (date[1:] <= date[:-1])) | (~same & (symbol[1:] < symbol[:-1]))
    if unsorted.any():
        at = int(np.flatnonzero(unsorted)[0]) + 1
        raise ValueError(
            f"indicators must be sorted by (symbol, date) without duplicates; row {at} "
            f"({symbol[at]}, {pd.Timestamp(date[at]).date()}) breaks the order"
        )
