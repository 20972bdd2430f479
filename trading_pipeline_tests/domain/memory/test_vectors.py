"""setup_vectors: each feature recomputed by hand from the indicator rows, z-scored over the symbol's own last
252 rows with plain pandas; the grid; which rows get no vector; point-in-time and per-symbol independence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.memory.vectors import FEATURES, GRID, REGIME_WEIGHT, VECTOR_COLUMNS, setup_vectors
from trading_pipeline_tests.domain.memory.conftest import sample_panel


def _expected_vector(indicators: pd.DataFrame, context: pd.DataFrame, symbol: str, day: str) -> np.ndarray:
    rows = indicators[indicators["symbol"] == symbol].reset_index(drop=True)
    i = int(np.flatnonzero(rows["date"] == pd.Timestamp(day))[0])
    raw = pd.DataFrame(
        {
            "trend": rows["sma50"] / rows["sma200"] - 1,
            "adx14": rows["adx14"],
            "rsi14": rows["rsi14"],
            "atr_pct": rows["atr14"] / rows["close"],
            "roc20": rows["roc20"],
            "roc126": rows["roc126"],
            "log_volume_ratio": np.log(rows["volume"] / rows["volume_sma20"]),
            "bb_position": (rows["close"] - rows["bb_lower"]) / (rows["bb_upper"] - rows["bb_lower"]),
        }
    )
    window = raw.iloc[max(0, i - 251) : i + 1]
    z = ((raw.iloc[i] - window.mean()) / window.std(ddof=1)).to_numpy()
    z = np.round(np.clip(z, -8, 8) * 64) / 64
    regime = context.loc[(context["symbol"] == symbol) & (context["date"] == pd.Timestamp(day)), "regime"].item()
    onehot = [0.75 if regime == name else 0.0 for name in ("trending_up", "trending_down", "ranging", "volatile")]
    return np.r_[z, onehot]


@pytest.mark.parametrize(("symbol", "day"), [("AAPL", "2008-10-10"), ("IBM", "2011-06-01"), ("GOOG", "2013-02-28")])
def test_a_vector_is_its_features_z_scored_over_the_symbols_last_year(panel, symbol, day) -> None:
    indicators, context = panel
    vectors = setup_vectors(indicators, context)
    row = vectors[(vectors["symbol"] == symbol) & (vectors["date"] == pd.Timestamp(day))]
    assert list(vectors.columns) == VECTOR_COLUMNS
    np.testing.assert_array_equal(row[list(FEATURES)].to_numpy()[0], _expected_vector(indicators, context, symbol, day))


def test_every_vector_lies_on_the_grid_with_exactly_one_regime(panel) -> None:
    vectors = setup_vectors(*panel)
    values = vectors[list(FEATURES)].to_numpy()
    assert np.isfinite(values).all() and (np.abs(values) <= 8).all()
    np.testing.assert_array_equal(values * GRID, np.round(values * GRID))
    regimes = values[:, -4:]
    assert ((regimes == REGIME_WEIGHT).sum(axis=1) == 1).all() and ((regimes == 0) | (regimes == REGIME_WEIGHT)).all()


def test_rows_without_a_full_vector_are_not_returned(panel) -> None:
    indicators, context = panel
    vectors = setup_vectors(indicators, context)
    keyed = vectors.merge(indicators[["date", "symbol", "history"]], on=["date", "symbol"])
    # The trend (sma200) is defined from the 200th bar; its z-score then needs 126 values: the 325th bar at the earliest.
    assert keyed["history"].min() == 325
    first = keyed.groupby("symbol")["history"].min()
    assert set(first.index) == {"AAPL", "GOOG", "IBM", "MSFT"}  # FB has 196 bars: no vector at all
    insufficient = context.loc[context["regime"] == "insufficient_history", ["date", "symbol"]]
    assert insufficient.merge(vectors, on=["date", "symbol"]).empty

    # A zero volume (log ratio -inf) costs that row its vector, not its neighbours theirs.
    broken = indicators.copy()
    at = int(np.flatnonzero((broken["symbol"] == "IBM") & (broken["date"] == pd.Timestamp("2010-03-15")))[0])
    broken.loc[at, "volume"] = 0.0
    again = setup_vectors(broken, context)
    ibm = again[again["symbol"] == "IBM"]["date"]
    assert pd.Timestamp("2010-03-15") not in set(ibm) and pd.Timestamp("2010-03-16") in set(ibm)
    assert len(again) == len(vectors) - 1


def test_vectors_are_point_in_time_and_depend_on_their_own_symbol_only(panel) -> None:
    full = setup_vectors(*panel)
    cut = "2009-06-30"
    early = setup_vectors(*sample_panel(last=cut))
    pd.testing.assert_frame_equal(early, full[full["date"] <= pd.Timestamp(cut)].reset_index(drop=True))

    indicators, context = panel
    alone = indicators["symbol"] == "MSFT"
    own = setup_vectors(indicators[alone].reset_index(drop=True), context[alone].reset_index(drop=True))
    pd.testing.assert_frame_equal(own, full[full["symbol"] == "MSFT"].reset_index(drop=True))


def test_unsorted_or_misaligned_frames_are_refused(panel) -> None:
    indicators, context = panel
    with pytest.raises(ValueError, match="sorted by \\(symbol, date\\)"):
        setup_vectors(indicators.iloc[::-1].reset_index(drop=True), context.iloc[::-1].reset_index(drop=True))
    with pytest.raises(ValueError, match="same \\(date, symbol\\) rows"):
        setup_vectors(indicators, context.iloc[1:].reset_index(drop=True))
    with pytest.raises(ValueError, match="rsi14"):
        setup_vectors(indicators.drop(columns="rsi14"), context)
