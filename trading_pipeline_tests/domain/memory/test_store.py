"""NumpySetupStore against a brute-force loop written here: visibility as of a session, Euclidean distance,
the (distance, date, symbol) order; and the exact arithmetic that lets pgvector answer identically."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.memory.store import NEIGHBOUR_COLUMNS, NumpySetupStore
from trading_pipeline.domain.memory.vectors import FEATURES

SYMBOLS = ["MSFT", "AAPL", "BRK.B", "BRKB", "IBM", "aapl"]


def _setups(n: int = 600, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grid vectors drawn from 60 distinct ones (many exact ties), with outcomes known 1-15 days later."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2021-01-04", periods=120)
    keys = pd.DataFrame([(d, s) for d in days for s in SYMBOLS], columns=["date", "symbol"])
    keys = keys.sample(n, random_state=seed).reset_index(drop=True)
    z = rng.integers(-3, 4, size=(60, 8)) * rng.choice([1, 16, 170], size=(60, 1)) / 64
    pool = np.hstack([z, np.eye(4)[rng.integers(0, 4, 60)] * 0.75])
    vectors = pd.concat([keys, pd.DataFrame(pool[rng.integers(0, 60, n)], columns=list(FEATURES))], axis=1)
    visible = keys["date"] + pd.to_timedelta(rng.integers(1, 16, n), unit="D")
    outcomes = keys.assign(
        forward_return=rng.normal(0, 0.05, n),
        visible_on=visible,
        trade_return=np.where(rng.random(n) < 0.5, rng.normal(0, 0.05, n), np.nan),
        trade_visible_on=visible + pd.to_timedelta(rng.integers(-3, 10, n), unit="D"),
    )
    outcomes.loc[outcomes["trade_return"].isna(), "trade_visible_on"] = pd.NaT
    return vectors, outcomes


def _brute_force(vectors, outcomes, v, as_of, k, exclude):
    table = vectors.merge(outcomes, on=["date", "symbol"])
    found = []
    for row in table.to_dict("records"):
        if row["visible_on"] <= as_of and row["date"] < as_of and row["symbol"] != exclude:
            distance = math.sqrt(sum((row[f] - v[j]) ** 2 for j, f in enumerate(FEATURES)))
            trade = row["trade_return"] if row["trade_visible_on"] <= as_of else math.nan
            found.append((distance, row["date"], row["symbol"], row["forward_return"], trade))
    found.sort(key=lambda r: (r[0], r[1], r[2]))  # Python compares str by code point, as COLLATE "C" does
    return found[:k]


def test_queries_match_a_brute_force_loop() -> None:
    vectors, outcomes = _setups()
    store = NumpySetupStore()
    assert store.add(vectors, outcomes) == len(vectors)
    rng = np.random.default_rng(11)
    days = sorted(vectors["date"].unique())
    queries = [
        (
            vectors[list(FEATURES)].to_numpy()[rng.integers(len(vectors))],
            pd.Timestamp(days[rng.integers(len(days))]),
            int(rng.choice([1, 5, 20, 1000])),
            rng.choice([None, "AAPL", "BRK.B", "ZZZ"]),
        )
        for _ in range(40)
    ]
    batch = store.query_many(np.array([q[0] for q in queries]), [q[1] for q in queries], 20, [q[3] for q in queries])
    boundary_ties = 0
    for i, (v, as_of, k, exclude) in enumerate(queries):
        expected = _brute_force(vectors, outcomes, v, as_of, k + 1, exclude)
        boundary_ties += len(expected) > k and expected[k - 1][0] == expected[k][0]
        expected = expected[:k]
        got = store.query(v, as_of, k, exclude_symbol=exclude)
        assert list(got.columns) == NEIGHBOUR_COLUMNS
        assert list(zip(got["distance"], got["date"], got["symbol"], strict=True)) == [e[:3] for e in expected]
        np.testing.assert_array_equal(got["forward_return"], [e[3] for e in expected])
        np.testing.assert_array_equal(got["trade_return"], [e[4] for e in expected])
        assert got["rank"].tolist() == list(range(1, len(expected) + 1))
        in_batch = batch[batch["query"] == i].drop(columns="query").reset_index(drop=True)
        pd.testing.assert_frame_equal(in_batch, store.query(v, as_of, 20, exclude_symbol=exclude))
    assert boundary_ties >= 10  # the k-th neighbour was often tied with the next one: the tie rule was exercised


def test_ties_do_not_depend_on_the_order_rows_were_added() -> None:
    vectors, outcomes = _setups()
    one = NumpySetupStore()
    one.add(vectors, outcomes)
    shuffled = NumpySetupStore()
    order = np.random.default_rng(5).permutation(len(vectors))
    half = len(order) // 2
    shuffled.add(vectors.iloc[order[:half]], outcomes)
    shuffled.add(vectors.iloc[order[half:]], outcomes)
    v, as_of = np.zeros(len(FEATURES)), pd.Timestamp("2021-04-30")
    a, b = one.query(v, as_of, 50), shuffled.query(v, as_of, 50)
    assert a["distance"].duplicated().any()  # the test means something: there are ties to break
    pd.testing.assert_frame_equal(a, b)


def test_an_outcome_is_invisible_until_its_session() -> None:
    vectors, outcomes = _setups(n=2)
    outcomes["date"] = [pd.Timestamp("2021-03-01"), pd.Timestamp("2021-03-02")]
    vectors["date"] = outcomes["date"]
    outcomes["visible_on"] = [pd.Timestamp("2021-03-10"), pd.Timestamp("2021-03-11")]
    outcomes["trade_return"] = [0.1, 0.2]
    outcomes["trade_visible_on"] = [pd.Timestamp("2021-03-10"), pd.Timestamp("2021-03-20")]
    store = NumpySetupStore()
    store.add(vectors, outcomes)
    v = vectors[list(FEATURES)].to_numpy()[0]
    assert store.query(v, "2021-03-09", 5).empty
    on_10 = store.query(v, "2021-03-10", 5)
    assert on_10["date"].tolist() == [pd.Timestamp("2021-03-01")] and on_10["trade_return"].tolist() == [0.1]
    on_11 = store.query(v, "2021-03-11", 5).set_index("date")
    assert len(on_11) == 2 and np.isnan(on_11.loc[pd.Timestamp("2021-03-02"), "trade_return"])  # exit not yet known
    assert store.query(v, "2021-03-20", 5).set_index("date").loc[pd.Timestamp("2021-03-02"), "trade_return"] == 0.2
    baseline = store.outcomes_on(["2021-03-01", "2021-03-02"], "2021-03-10")
    assert baseline["date"].tolist() == [pd.Timestamp("2021-03-01")]


def test_squared_distances_on_the_grid_are_exact_in_any_summation_order() -> None:
    """pgvector sums float32 squares in an order its compiler chooses; on the grid every order is exact."""
    rng = np.random.default_rng(2)
    z = rng.integers(-512, 513, size=(2000, 8)) / 64
    z[:10] = 8.0
    z[10:20] = -8.0
    x = np.hstack([z, np.eye(4)[rng.integers(0, 4, 2000)] * 0.75]).astype("float32")
    a, b = x[:1000], x[1000:]
    diff_sq = (a - b) ** 2  # float32
    exact = ((a.astype("float64") - b.astype("float64")) ** 2).sum(axis=1)
    sequential = np.zeros(1000, dtype="float32")
    for j in range(x.shape[1]):
        sequential += diff_sq[:, j]
    backwards = np.zeros(1000, dtype="float32")
    for j in reversed(range(x.shape[1])):
        backwards += diff_sq[:, j]
    lanes = diff_sq[:, 0::4] + diff_sq[:, 1::4] + diff_sq[:, 2::4] + diff_sq[:, 3::4]  # 4-wide SIMD lanes
    simd = (lanes[:, 0] + lanes[:, 1]) + lanes[:, 2]
    for total in (sequential, backwards, simd, diff_sq.sum(axis=1, dtype="float32")):
        np.testing.assert_array_equal(total.astype("float64"), exact)
    store = NumpySetupStore()
    keys = pd.DataFrame({"date": pd.Timestamp("2021-01-04"), "symbol": [f"S{i}" for i in range(1000)]})
    store.add(
        pd.concat([keys, pd.DataFrame(b.astype("float64"), columns=list(FEATURES))], axis=1),
        keys.assign(
            forward_return=0.0, visible_on=pd.Timestamp("2021-01-05"), trade_return=np.nan, trade_visible_on=pd.NaT
        ),
    )
    got = store.query(a[0].astype("float64"), "2021-01-05", 1000).set_index("symbol")["distance"]
    expected = np.sqrt(((b.astype("float64") - a[0].astype("float64")) ** 2).sum(axis=1))
    np.testing.assert_array_equal(got.loc[keys["symbol"]].to_numpy(), expected)


def test_bad_setups_and_queries_are_refused() -> None:
    vectors, outcomes = _setups(n=20)
    store = NumpySetupStore()
    with pytest.raises(ValueError, match="not a grid value"):
        store.add(vectors.assign(rsi14=0.01), outcomes)
    with pytest.raises(ValueError, match="not a grid value"):
        store.add(vectors.assign(rsi14=8.5), outcomes)
    with pytest.raises(ValueError, match="visible after their session"):
        store.add(vectors, outcomes.assign(visible_on=outcomes["date"]))
    store.add(vectors, outcomes)
    with pytest.raises(ValueError, match="already stored"):
        store.add(vectors.iloc[:1], outcomes)
    v = vectors[list(FEATURES)].to_numpy()[0]
    with pytest.raises(ValueError, match="session dates"):
        store.query(v, pd.Timestamp("2021-03-01", tz="UTC"), 5)
    with pytest.raises(ValueError, match="session dates"):
        store.query(v, pd.Timestamp("2021-03-01 16:00"), 5)
    with pytest.raises(ValueError, match="at least 1"):
        store.query(v, "2021-03-01", 0)
    with pytest.raises(ValueError, match="12-feature"):
        store.query(v[:5], "2021-03-01", 5)
    assert NumpySetupStore().query(v, "2021-03-01", 5).empty
