"""How long the memory of setups takes to build, and how fast an exact k-nearest query is.

Builds the memory over the S&P 500 panel (500 symbols x 5 years, 2013-2018) with the project's own chain
(bars → validation → indicators → market context → setup vectors and outcomes → numpy store), then times
single k=20 queries as of the panel's last session (every stored setup visible, the worst case), and a
batch of queries of one session. Then the same queries over ~600k and all ~1.3M vectors of the long
S&P 500 names panel (2005-2017). Queries use vectors of the memory itself, drawn at random.

    .venv/bin/python benchmarks/memory_speed.py
"""

from __future__ import annotations

import os
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

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SP500 = DATA / "daily_sp500_2013-2018.csv.gz"
SP500_NAMES = DATA / "daily_sp500names_2005-2017.csv.gz"
QUERIES = 500
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


def time_queries(store: NumpySetupStore, vectors: pd.DataFrame, as_of: pd.Timestamp, label: str) -> None:
    rng = np.random.default_rng(0)
    picked = vectors[list(FEATURES)].to_numpy()[rng.integers(0, len(vectors), QUERIES)]
    visible = int((store.outcomes_on(sorted(vectors["date"].unique()), as_of)).shape[0])
    store.query(picked[0], as_of, K)  # warm-up
    latency = []
    for vector in picked:
        started = time.perf_counter()
        store.query(vector, as_of, K)
        latency.append(time.perf_counter() - started)
    ms = np.array(latency) * 1000
    started = time.perf_counter()
    store.query_many(picked, [as_of] * len(picked), K)
    batch = (time.perf_counter() - started) * 1000 / len(picked)
    print(
        f"{label}: {visible:,} visible vectors as of {as_of.date()}, k={K}, {QUERIES} single queries: "
        f"p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, max {ms.max():.1f} ms; "
        f"batched: {batch:.2f} ms per query"
    )


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


if __name__ == "__main__":
    main()
