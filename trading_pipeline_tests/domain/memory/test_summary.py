"""similar_setups: the neighbours' figures and their date-matched baseline worked out by hand; numbers-only JSON;
and no leak from the future on real data (truncating after D changes nothing the memory says on D)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.memory.outcomes import setup_outcomes
from trading_pipeline.domain.memory.store import NumpySetupStore
from trading_pipeline.domain.memory.summary import (
    OutcomeFigures,
    SetupMemory,
    neighbour_figures,
    similar_setups,
    similar_setups_many,
    summary_frame,
    with_memory,
)
from trading_pipeline.domain.memory.vectors import FEATURES, setup_vectors
from trading_pipeline_tests.domain.memory.conftest import sample_panel

D = pd.Timestamp


def _store() -> NumpySetupStore:
    """Five setups on two sessions; the three near the origin are the neighbours of a zero vector for k=3."""
    keys = pd.DataFrame(
        {
            "date": [D("2021-03-01")] * 3 + [D("2021-03-02")] * 2 + [D("2021-03-05")],
            "symbol": ["A", "B", "C", "A", "B", "A"],
        }
    )
    first = np.array([1 / 64, 2, 8, 2 / 64, 3 / 64, 0])  # distance from the origin = this value
    vectors = pd.concat([keys, pd.DataFrame(np.zeros((6, len(FEATURES))), columns=list(FEATURES))], axis=1)
    vectors["trend"] = first
    outcomes = keys.assign(
        forward_return=[0.05, -0.02, 0.01, -0.04, 0.03, 0.5],
        visible_on=[D("2021-03-15")] * 5 + [D("2021-03-25")],  # the 03-05 setup is not known by 03-20
        trade_return=[0.02, np.nan, np.nan, np.nan, -0.01, np.nan],
        trade_visible_on=[D("2021-03-16"), pd.NaT, pd.NaT, pd.NaT, D("2021-03-30"), pd.NaT],
    )
    store = NumpySetupStore()
    store.add(vectors, outcomes)
    return store


def test_figures_and_the_date_matched_baseline() -> None:
    memory = similar_setups(_store(), "Z", "2021-03-20", np.zeros(len(FEATURES)), k=3)
    # Neighbours: A 03-01 (+5%), A 03-02 (-4%), B 03-02 (+3%).
    assert memory.neighbours == OutcomeFigures(3, pytest.approx((0.05 - 0.04 + 0.03) / 3), 0.03, pytest.approx(2 / 3))
    # Baseline: 03-01's three setups once (one neighbour from it), 03-02's two setups twice (two neighbours).
    baseline = [0.05, -0.02, 0.01, -0.04, 0.03, -0.04, 0.03]
    assert memory.baseline == OutcomeFigures(7, pytest.approx(np.mean(baseline)), 0.01, pytest.approx(4 / 7))
    # Trades: A 03-01's is known (03-16), B 03-02's exits only on 03-30.
    assert memory.trades == OutcomeFigures(1, 0.02, 0.02, 1.0)
    assert memory.median_distance == pytest.approx(2 / 64)
    assert memory.describe() == (
        "3 similar past setups, 10-session forward return: mean +1.33%, median +3.00%, 67% up; "
        "same sessions: mean +0.29%, median +1.00%, 57% up; their trades (1): mean +2.00%, median +2.00%, 100% up"
    )
    # Left out: the symbol's own past, on request.
    own_out = similar_setups(_store(), "A", "2021-03-20", np.zeros(len(FEATURES)), k=2, exclude_own_symbol=True)
    assert own_out.neighbours.count == 2 and own_out.neighbours.mean == pytest.approx((0.03 - 0.02) / 2)


def test_as_json_is_numbers_only_and_empty_memory_says_so() -> None:
    memory = similar_setups(_store(), "Z", "2021-03-20", np.zeros(len(FEATURES)), k=3)
    data = memory.as_json()

    def leaves(value):
        if isinstance(value, dict):
            for inner in value.values():
                yield from leaves(inner)
        else:
            yield value

    assert all(v is None or isinstance(v, int | float) for v in leaves(data))
    assert data["neighbours"]["count"] == 3 and data["same_sessions_baseline"]["count"] == 7
    empty = similar_setups(_store(), "Z", "2021-03-10", np.zeros(len(FEATURES)), k=3)
    assert empty.neighbours.count == 0 and empty.describe() == "no past setup visible on 2021-03-10"
    json.dumps(empty.as_json(), allow_nan=False)  # NaN figures travel as null


def test_neighbour_figures_equal_the_figures_of_each_query() -> None:
    store = _store()
    vectors = np.zeros((3, len(FEATURES)))
    vectors[1, 0] = 8.0
    neighbours = store.query_many(vectors, ["2021-03-20", "2021-03-20", "2021-03-10"], k=4)
    figures = neighbour_figures(neighbours, 3)
    for q in range(3):
        expected = OutcomeFigures.of(neighbours.loc[neighbours["query"] == q, "forward_return"].to_numpy())
        got = figures.iloc[q]
        assert got["count"] == expected.count
        np.testing.assert_array_equal(
            got[["mean", "median", "hit_rate"]].to_numpy(dtype="float64"),
            [expected.mean, expected.median, expected.hit_rate],
        )


def test_no_leak_from_the_future_on_real_data() -> None:
    """Memory built on data truncated after D answers on D exactly as the memory built on everything."""
    day = "2011-06-01"

    def memory_on(last: str | None):
        indicators, context = sample_panel(last)
        vectors = setup_vectors(indicators, context)
        store = NumpySetupStore()
        store.add(vectors, setup_outcomes(indicators))
        answers = {}
        for symbol in ("AAPL", "IBM", "MSFT"):
            row = vectors[(vectors["symbol"] == symbol) & (vectors["date"] == D(day))]
            vector = row[list(FEATURES)].to_numpy()[0]
            answers[symbol] = (
                store.query(vector, day, 20),
                similar_setups(store, symbol, day, vector).as_json(),
            )
        return answers

    truncated, full = memory_on(day), memory_on(None)
    for symbol, (neighbours, summary) in full.items():
        assert (neighbours["visible_on"] <= D(day)).all() and (neighbours["date"] < D(day)).all()
        assert len(neighbours) == 20
        pd.testing.assert_frame_equal(neighbours, truncated[symbol][0])
        assert summary == truncated[symbol][1]


def test_many_answers_equal_one_by_one_and_survive_a_table_round_trip() -> None:
    indicators, context = sample_panel("2009-12-31")
    vectors = setup_vectors(indicators, context)
    store = NumpySetupStore()
    store.add(vectors, setup_outcomes(indicators))
    early, later = vectors["date"].between(D("2001-03-01"), D("2001-06-30")), vectors["date"].dt.year == 2004
    asked = vectors[early | later].reset_index(drop=True)
    many = similar_setups_many(store, asked, k=20)
    one_by_one = [
        similar_setups(store, r["symbol"], r["date"], r[list(FEATURES)].to_numpy(dtype="float64"), k=20)
        for _, r in asked.iterrows()
    ]
    assert [m.as_json() for m in many] == [m.as_json() for m in one_by_one]  # as_json: NaN as None compares
    assert any(m.neighbours.count == 20 for m in many) and any(m.neighbours.count < 20 for m in many)
    table = summary_frame(many)
    assert all(
        SetupMemory.from_row(r).as_json() == m.as_json() for r, m in zip(table.to_dict("records"), many, strict=True)
    )
    framed = with_memory(asked[["date", "symbol"]].iloc[:3], table)
    assert framed["similar_setups"].tolist() == [m.as_json() for m in many[:3]]
    assert with_memory(pd.DataFrame({"date": [D("1999-01-04")], "symbol": ["AAPL"]}), table)[
        "similar_setups"
    ].tolist() == [None]
