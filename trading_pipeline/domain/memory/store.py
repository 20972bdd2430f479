"""Exact k-nearest search over stored setups, seeing on session D only what was known at D's close.

**Visibility.** A query as of session D sees a stored setup only if its outcome was known by then
(``visible_on <= D``) and its own session is before D (``date < D``; ``add`` refuses an outcome known on
or before its own session, so the first condition implies the second). A neighbour's trade outcome is
reported only if its exit was known by D (``trade_visible_on <= D``), else NaN: the neighbour is still one.

**Distance and order.** Euclidean distance between the z-score vectors (``vectors.FEATURES``: the grid
values ``setup_vectors`` returns). Neighbours are ordered by (distance, date, symbol), symbols compared by
code point, and the first k are returned: ties at the k-th distance are broken by the oldest session, then
the symbol, never by storage order. On the grid every squared distance is an exact float32 (products and
sums of multiples of 1/64 below 8 in magnitude stay integers times 2^-12 below 2^24 × 2^-12), so any
summation order, pgvector's included, gives the same value, and ``distance`` = sqrt of it as a double is
pgvector's ``<->`` bit for bit. The same query in SQL (exact search: no ANN index), returning the same rows:

    SELECT date, symbol, embedding <-> :v AS distance, forward_return, visible_on,
           CASE WHEN trade_visible_on <= :as_of THEN trade_return END AS trade_return
    FROM setups
    WHERE visible_on <= :as_of AND date < :as_of [AND symbol <> :exclude_symbol]
    ORDER BY embedding <-> :v, date, symbol COLLATE "C"
    LIMIT :k

``COLLATE "C"`` orders symbols by bytes, i.e. by code point as Python does; the database's default
collation may not (``BRK.B`` against ``BRKB``). Grid values print exactly in decimal, so ``:v`` sent as
text loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from trading_pipeline.domain.memory.outcomes import OUTCOME_COLUMNS
from trading_pipeline.domain.memory.vectors import FEATURES, GRID, Z_CLIP
from trading_pipeline.domain.schema import KEY

NEIGHBOUR_COLUMNS = ["rank", "date", "symbol", "distance", "forward_return", "visible_on", "trade_return"]
BASELINE_COLUMNS = ["date", "symbol", "forward_return"]
# Queries scored together in one matrix product; the (queries × rows) distance matrix (~15 MB at 450k rows) then
# stays small enough for the passes over it to be cheap (32 at once was twice as slow per query).
QUERY_CHUNK = 8
# Every SAMPLE_STEP-th row gives the search its distance bound (see ``NumpySetupStore._nearest``).
SAMPLE_STEP = 16

type Day = str | pd.Timestamp | np.datetime64


class SetupStore(Protocol):
    """What the memory needs from a store of setups (numpy offline, pgvector on PostgreSQL)."""

    def add(self, vectors: pd.DataFrame, outcomes: pd.DataFrame) -> int:
        """Store the setups that have both a vector and a known outcome (joined on date, symbol); return how
        many. Raises ValueError on a setup already stored or an outcome not after its session."""
        ...

    def query(self, vector: np.ndarray, as_of: Day, k: int, exclude_symbol: str | None = None) -> pd.DataFrame:
        """The k nearest setups visible as of ``as_of`` (``NEIGHBOUR_COLUMNS``, nearest first)."""
        ...

    def outcomes_on(self, dates: Sequence[Day], as_of: Day) -> pd.DataFrame:
        """``BASELINE_COLUMNS`` of every setup of those sessions visible as of ``as_of`` (the baseline)."""
        ...

    def add_new(self, vectors: pd.DataFrame, outcomes: pd.DataFrame) -> int:
        """``add`` of the setups not stored yet (a re-run of a range adds nothing); how many were added."""
        ...

    def query_many(
        self, vectors: np.ndarray, as_of: Sequence[Day], k: int, exclude_symbols: Sequence[str | None] | None = None
    ) -> pd.DataFrame:
        """``query`` for each row of ``vectors``; ``NEIGHBOUR_COLUMNS`` plus ``query`` (the row's position)."""
        ...


class NumpySetupStore:
    """The offline store: every setup in memory, exact search by one matrix product per batch of queries.

    Rows are kept sorted by ``visible_on``, so the rows visible as of D are a prefix found by binary search.
    """

    def __init__(self) -> None:
        self._table = pd.DataFrame(columns=[*OUTCOME_COLUMNS, *FEATURES])
        self._index()

    def __len__(self) -> int:
        return len(self._table)

    def add(self, vectors: pd.DataFrame, outcomes: pd.DataFrame) -> int:
        rows = setup_rows(vectors, outcomes)
        table = pd.concat([self._table, rows], ignore_index=True) if len(self._table) else rows
        repeated = table.duplicated(KEY)
        if repeated.any():
            raise ValueError(f"setup already stored: {_first(table[repeated])}")
        self._table = table.sort_values(["visible_on", "date", "symbol"], kind="stable").reset_index(drop=True)
        self._index()
        return len(rows)

    def add_new(self, vectors: pd.DataFrame, outcomes: pd.DataFrame) -> int:
        """``add`` of the setups not stored yet (a re-run of a range adds nothing); how many were added."""
        rows = setup_rows(vectors, outcomes)
        if rows.empty or self._table.empty:  # an empty frame's columns carry no dtype to merge on
            return self.add(rows, rows) if len(rows) else 0
        stored = rows[KEY].merge(self._table[KEY], on=KEY, how="left", indicator=True)["_merge"] == "both"
        fresh = rows[~stored.to_numpy()]
        return self.add(fresh, fresh) if len(fresh) else 0

    def rows(self) -> pd.DataFrame:
        """Every stored setup (``OUTCOME_COLUMNS`` then ``FEATURES``): what ``add`` rebuilds the store from."""
        return self._table.copy()

    def query(self, vector: np.ndarray, as_of: Day, k: int, exclude_symbol: str | None = None) -> pd.DataFrame:
        out = self.query_many(np.asarray(vector, dtype="float64")[None, :], [as_of], k, [exclude_symbol])
        return out.drop(columns="query")

    def query_many(
        self,
        vectors: np.ndarray,
        as_of: Sequence[Day],
        k: int,
        exclude_symbols: Sequence[str | None] | None = None,
    ) -> pd.DataFrame:
        """``query`` for each row of ``vectors`` with its own session and excluded symbol, in one call;
        ``NEIGHBOUR_COLUMNS`` plus ``query`` (the row's position), grouped by query, nearest first."""
        vectors = np.asarray(vectors, dtype="float64")
        if vectors.ndim != 2 or vectors.shape[1] != len(FEATURES) or len(as_of) != len(vectors):
            raise ValueError(
                f"expected one {len(FEATURES)}-feature vector per session, got shape {vectors.shape} "
                f"for {len(as_of)} sessions"
            )
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        check_grid(vectors, "query vectors")
        if not len(vectors):
            return pd.DataFrame(columns=["query", *NEIGHBOUR_COLUMNS])
        days = session_days(as_of)
        excluded = exclude_symbols if exclude_symbols is not None else [None] * len(vectors)
        codes = np.array([self._symbol_codes.get(s, -1) for s in excluded], dtype=np.int64)
        ends = np.searchsorted(self._visible, days, side="right")
        found: list[tuple[int, np.ndarray, np.ndarray]] = []
        for end in np.unique(ends):
            group = np.flatnonzero(ends == end)
            for start in range(0, len(group), QUERY_CHUNK):
                chunk = group[start : start + QUERY_CHUNK]
                found.extend(self._nearest(vectors[chunk].astype("float32"), chunk, int(end), codes[chunk], k))
        return self._neighbours(found, days)

    def outcomes_on(self, dates: Sequence[Day], as_of: Day) -> pd.DataFrame:
        end = int(np.searchsorted(self._visible, session_days([as_of])[0], side="right"))
        rows = np.flatnonzero(np.isin(self._dates[:end], session_days(dates)))
        return self._table.loc[rows, BASELINE_COLUMNS].reset_index(drop=True)

    def _index(self) -> None:
        """The arrays the search reads, rebuilt after each ``add``."""
        table = self._table
        self._x = table[list(FEATURES)].to_numpy(dtype="float32")
        self._xx = np.einsum("ij,ij->i", self._x, self._x)  # exact on the grid, like the products below
        self._visible = table["visible_on"].to_numpy(dtype="datetime64[ns]")
        self._dates = table["date"].to_numpy(dtype="datetime64[ns]")
        self._forward = table["forward_return"].to_numpy(dtype="float64")
        self._trade = table["trade_return"].to_numpy(dtype="float64")
        self._trade_visible = table["trade_visible_on"].to_numpy(dtype="datetime64[ns]")
        self._symbols = table["symbol"].to_numpy(dtype=object)
        names, self._codes = np.unique(self._symbols, return_inverse=True)
        self._symbol_codes = {str(name): code for code, name in enumerate(names)}
        # The tie-break: each row's position in (date, symbol) order; np.unique sorted names by code point.
        self._tie = np.empty(len(table), dtype=np.int64)
        self._tie[np.lexsort((self._codes, self._dates))] = np.arange(len(table))

    def _nearest(
        self, v: np.ndarray, queries: np.ndarray, end: int, excluded: np.ndarray, k: int
    ) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(query, rows, squared distances) of the k nearest of the first ``end`` rows, for each of ``v``.

        The k-th smallest distance over every ``SAMPLE_STEP``-th row bounds the k-th over all rows from above,
        so only the few rows within that bound are sorted: exact, at a fraction of a full partition's cost.
        """
        if end == 0:
            return [(int(q), np.zeros(0, dtype=np.int64), np.zeros(0, dtype="float32")) for q in queries]
        squared = v @ self._x[:end].T  # then |x|² - 2 x·v + |v|², in place: temporaries of this size cost more
        squared *= -2.0
        squared += self._xx[None, :end]
        squared += np.einsum("ij,ij->i", v, v)[:, None]
        for j, code in enumerate(excluded):
            if code >= 0:
                squared[j, self._codes[:end] == code] = np.inf
        step = SAMPLE_STEP if end >= k * SAMPLE_STEP else 1
        kth = min(k, end) - 1
        bound = np.partition(squared[:, ::step], kth, axis=1)[:, kth]
        out = []
        for j, q in enumerate(queries):
            if np.isinf(bound[j]):  # excluded rows filled the sample's k nearest
                bound[j] = np.partition(squared[j], kth)[kth]
            rows = np.flatnonzero(squared[j] <= bound[j])
            rows = rows[np.lexsort((self._tie[rows], squared[j, rows]))][:k]
            out.append((int(q), rows, squared[j, rows]))
        return out

    def _neighbours(self, found: list[tuple[int, np.ndarray, np.ndarray]], days: np.ndarray) -> pd.DataFrame:
        found.sort(key=lambda item: item[0])
        query = np.concatenate([np.full(len(rows), q) for q, rows, _ in found])
        rank = np.concatenate([np.arange(1, len(rows) + 1) for _, rows, _ in found])
        rows = np.concatenate([rows for _, rows, _ in found])
        squared = np.concatenate([d for _, _, d in found])
        trade_known = self._trade_visible[rows] <= days[query]
        out = pd.DataFrame(
            {
                "query": query,
                "rank": rank,
                "date": self._dates[rows],
                "symbol": self._symbols[rows],
                "distance": np.sqrt(squared.astype("float64")),
                "forward_return": self._forward[rows],
                "visible_on": self._visible[rows],
                "trade_return": np.where(trade_known, self._trade[rows], np.nan),
            }
        )
        return out[np.isfinite(out["distance"].to_numpy())].reset_index(drop=True)


def setup_rows(vectors: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The rows ``SetupStore.add`` stores (``OUTCOME_COLUMNS`` then ``FEATURES``): the setups with both a
    vector and a known outcome, checked (grid vectors, outcomes visible after their session) the same way
    for every store."""
    missing = [c for c in [*KEY, *FEATURES] if c not in vectors.columns]
    missing += [c for c in OUTCOME_COLUMNS if c not in outcomes.columns]
    if missing:
        raise ValueError(f"setups to store lack the columns {missing}")
    rows = vectors[[*KEY, *FEATURES]].merge(outcomes[OUTCOME_COLUMNS], on=KEY, how="inner", validate="one_to_one")
    rows = rows[rows["forward_return"].notna()][[*OUTCOME_COLUMNS, *FEATURES]].reset_index(drop=True)
    check_grid(rows[list(FEATURES)].to_numpy(dtype="float64"), "stored vectors")
    early = ~(rows["visible_on"] > rows["date"])
    if early.any():
        raise ValueError(f"outcomes must become visible after their session, e.g. {_first(rows[early])}")
    return rows


def check_grid(values: np.ndarray, what: str) -> None:
    """ValueError unless every value is a multiple of 1/GRID within ±Z_CLIP (what ``setup_vectors`` returns):
    off the grid, distances are no longer exact and two stores could rank near-ties differently."""
    scaled = values * GRID
    bad = ~(np.isfinite(values) & (np.abs(values) <= Z_CLIP) & (scaled == np.round(scaled)))
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{what}: {FEATURES[col]} = {values[row, col]!r} in row {row} is not a grid value "
            f"(multiples of 1/{GRID} within ±{Z_CLIP:g}: use setup_vectors)"
        )


def session_days(values: Sequence[Day]) -> np.ndarray:
    days = pd.DatetimeIndex([pd.Timestamp(v) for v in values])
    if days.tz is not None or days.hasnans or not (days == days.normalize()).all():
        raise ValueError(f"query sessions must be tz-naive session dates, got e.g. {values[0]!r}")
    return days.to_numpy(dtype="datetime64[ns]")


def _first(rows: pd.DataFrame) -> str:
    row = rows.iloc[0]
    return f"{row['symbol']} on {pd.Timestamp(row['date']).date()}"
