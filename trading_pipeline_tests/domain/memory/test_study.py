"""memory_study on real data, against the same figures rebuilt one BUY at a time through similar_setups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.memory.check import MemoryCheck, memory_frame
from trading_pipeline.domain.memory.outcomes import setup_outcomes
from trading_pipeline.domain.memory.store import NumpySetupStore
from trading_pipeline.domain.memory.study import memory_study
from trading_pipeline.domain.memory.summary import similar_setups
from trading_pipeline.domain.memory.vectors import FEATURES, setup_vectors
from trading_pipeline.domain.selection import select_strategies
from trading_pipeline.domain.strategies import REGISTRY
from trading_pipeline.domain.validation import signals_with_track_record, validate_signals


def test_the_study_counts_and_scores_what_the_check_does_one_buy_at_a_time(panel) -> None:
    indicators, context = panel
    signals = validate_signals(
        signals_with_track_record(indicators, select_strategies(context, list(REGISTRY))), context
    )
    signals = signals[signals["date"] >= pd.Timestamp("2011-01-01")]
    vectors, outcomes = setup_vectors(indicators, context), setup_outcomes(indicators)
    check = MemoryCheck(max_loss_rate=0.5)
    table = memory_study(signals, vectors, outcomes, k=20, check=check, min_confidence=0.3)

    store = NumpySetupStore()
    store.add(vectors, outcomes)
    buys = (
        signals[signals["action"] == "BUY"]
        .merge(vectors, on=["date", "symbol"])
        .merge(outcomes[["date", "symbol", "forward_return"]], on=["date", "symbol"])
    )
    answers = [
        similar_setups(store, row.symbol, row.date, np.array([getattr(row, f) for f in FEATURES]), k=20)
        for row in buys.itertuples()
    ]
    flagged = check.flags(memory_frame(answers))
    assert 0 < flagged.sum() < len(buys)
    years = buys["date"].dt.year.astype(str)
    for year in sorted(set(years)):
        mine = (years == year).to_numpy()
        assert table.loc[year, "buys"] == mine.sum()
        assert table.loc[year, "flagged"] == flagged[mine].sum()
    returns = buys["forward_return"].to_numpy()
    assert table.loc["all", "flagged mean"] == pytest.approx(returns[flagged].mean())
    assert table.loc["all", "kept hit"] == pytest.approx((returns[~flagged] > 0).mean())
    same_session = np.array([outcomes.loc[outcomes["date"] == d, "forward_return"].mean() for d in buys["date"]])
    assert table.loc["all", "kept excess"] == pytest.approx((returns - same_session)[~flagged].mean())
    confidence = buys["confidence"].to_numpy()
    traded = np.where(flagged, confidence * check.scale, confidence) >= 0.3
    assert table.loc["all", "traded mean, check"] == pytest.approx(returns[traded].mean())
    assert table.loc["all", "traded mean, no check"] == pytest.approx(returns[confidence >= 0.3].mean())
