"""PgVectorSetupStore on a real PostgreSQL with pgvector (embedded server when the local one lacks it): the same
neighbours in the same order as the numpy store, and no outcome from the future."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.memory.outcomes import setup_outcomes
from trading_pipeline.domain.memory.store import NumpySetupStore
from trading_pipeline.domain.memory.summary import similar_setups
from trading_pipeline.domain.memory.vectors import FEATURES, setup_vectors
from trading_pipeline.integrations.pgvector_store import PgVectorSetupStore
from trading_pipeline_tests.domain.memory.conftest import sample_panel
from trading_pipeline_tests.domain.memory.test_store import _setups


@pytest.fixture(scope="module")
def real_setups() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bundled real bars (5 stocks, 2000-2013) as setup vectors and their 10-session outcomes."""
    indicators, context = sample_panel()
    return setup_vectors(indicators, context), setup_outcomes(indicators)


def test_pgvector_and_numpy_answer_identically_on_real_setups(pgvector_database, real_setups) -> None:
    vectors, outcomes = real_setups
    numpy_store, pg_store = NumpySetupStore(), PgVectorSetupStore(pgvector_database.url())
    assert pg_store.add(vectors, outcomes) == numpy_store.add(vectors, outcomes) == len(pg_store)
    assert len(pg_store) > 10_000
    rng = np.random.default_rng(7)
    picked = rng.integers(0, len(vectors), 60)
    queries = vectors.iloc[picked].reset_index(drop=True)
    for row, k, own in zip(queries.itertuples(), rng.choice([1, 20, 200], 60), rng.random(60) < 0.3, strict=True):
        v = np.array([getattr(row, f) for f in FEATURES])
        exclude = row.symbol if own else None
        expected = numpy_store.query(v, row.date, int(k), exclude_symbol=exclude)
        got = pg_store.query(v, row.date, int(k), exclude_symbol=exclude)
        pd.testing.assert_frame_equal(got, expected)  # same rows, same order, same distances bit for bit
        assert (got["visible_on"] <= row.date).all() and (got["date"] < row.date).all()
        pd.testing.assert_frame_equal(
            pg_store.outcomes_on(list(got["date"].unique()), row.date),
            numpy_store.outcomes_on(list(got["date"].unique()), row.date),
        )
        assert similar_setups(pg_store, row.symbol, row.date, v) == similar_setups(numpy_store, row.symbol, row.date, v)
    batch = pg_store.query_many(queries[list(FEATURES)].to_numpy(), list(queries["date"]), 20)
    pd.testing.assert_frame_equal(
        batch, numpy_store.query_many(queries[list(FEATURES)].to_numpy(), list(queries["date"]), 20)
    )


def test_ties_are_broken_the_same_way(pgvector_database) -> None:
    """Vectors drawn from 60 distinct ones: many exact ties, and symbols that sort differently by collation."""
    vectors, outcomes = _setups()
    numpy_store, pg_store = NumpySetupStore(), PgVectorSetupStore(pgvector_database.url())
    numpy_store.add(vectors, outcomes)
    pg_store.add(vectors, outcomes)
    for v, as_of, exclude in [
        (np.zeros(len(FEATURES)), "2021-04-30", None),
        (vectors[list(FEATURES)].to_numpy()[3], "2021-05-20", "BRK.B"),
        (vectors[list(FEATURES)].to_numpy()[9], "2021-06-18", None),
    ]:
        expected = numpy_store.query(v, as_of, 80, exclude_symbol=exclude)
        assert expected["distance"].duplicated().any()  # there are ties to break
        pd.testing.assert_frame_equal(pg_store.query(v, as_of, 80, exclude_symbol=exclude), expected)


def test_no_outcome_from_the_future_is_visible(pgvector_database) -> None:
    vectors, outcomes = _setups(n=2)
    outcomes["date"] = vectors["date"] = [pd.Timestamp("2021-03-01"), pd.Timestamp("2021-03-02")]
    outcomes["visible_on"] = [pd.Timestamp("2021-03-10"), pd.Timestamp("2021-03-11")]
    outcomes["trade_return"] = [0.1, 0.2]
    outcomes["trade_visible_on"] = [pd.Timestamp("2021-03-10"), pd.Timestamp("2021-03-20")]
    store = PgVectorSetupStore(pgvector_database.url())
    store.add(vectors, outcomes)
    v = vectors[list(FEATURES)].to_numpy()[0]
    assert store.query(v, "2021-03-09", 5).empty  # both outcomes still in the future
    assert store.query(v, "2021-03-10", 5)["date"].tolist() == [pd.Timestamp("2021-03-01")]
    on_11 = store.query(v, "2021-03-11", 5).set_index("date")["trade_return"]
    assert on_11[pd.Timestamp("2021-03-01")] == 0.1 and np.isnan(on_11[pd.Timestamp("2021-03-02")])  # exit not known
    assert store.query(v, "2021-03-20", 5).set_index("date")["trade_return"].tolist() == [0.1, 0.2]
    assert store.outcomes_on(["2021-03-01", "2021-03-02"], "2021-03-10")["date"].tolist() == [
        pd.Timestamp("2021-03-01")
    ]


def test_a_setup_is_stored_once(pgvector_database) -> None:
    vectors, outcomes = _setups(n=50)
    store = PgVectorSetupStore(pgvector_database.url())
    assert store.add(vectors.iloc[:30], outcomes) == 30
    with pytest.raises(ValueError, match="already stored"):
        store.add(vectors.iloc[20:40], outcomes)
    assert len(store) == 30  # the refused batch left nothing behind
    assert store.add_new(vectors, outcomes) == 20
    assert store.add_new(vectors, outcomes) == 0
    again = PgVectorSetupStore(pgvector_database.url())  # the table is kept, not recreated
    assert len(again) == 50
    numpy_store = NumpySetupStore()
    assert numpy_store.add_new(vectors.iloc[:30], outcomes) == 30
    assert numpy_store.add_new(vectors, outcomes) == 20
    assert numpy_store.add_new(vectors, outcomes) == 0
