"""What the memory says about a setup: how its nearest past setups turned out, never a single "what happened".

The neighbours' forward returns (count, mean, median, hit rate) come with the same figures for a
**date-matched baseline**: every setup stored for the neighbours' sessions, each session counted once per
neighbour from it. Neighbours cluster in time (a market-wide rally makes many setups look alike), so their
mean is partly the market of those sessions rather than the setup; the baseline is what any setup of the
same sessions did, and the difference is what the likeness adds. All the setups of those sessions rather
than a random sample of them: the figures are then exact, reproducible without a seed, and a join on the
session in SQL. The baseline sees only setups visible as of the query's session, as the neighbours do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from trading_pipeline.domain.memory.outcomes import DEFAULT_HORIZON
from trading_pipeline.domain.memory.store import Day, SetupStore
from trading_pipeline.domain.memory.vectors import FEATURES
from trading_pipeline.domain.schema import KEY

DEFAULT_K = 20
FIGURE_COLUMNS = ["count", "mean", "median", "hit_rate"]
FIGURE_GROUPS = ("neighbours", "baseline", "trades")
# One row per answer of the memory (the setup_memory asset's table): the figures flattened, group_figure.
SUMMARY_COLUMNS = [
    *KEY,
    "k",
    "horizon",
    "median_distance",
    *(f"{group}_{column}" for group in FIGURE_GROUPS for column in FIGURE_COLUMNS),
]
MEMORY_FIELD = "similar_setups"


@dataclass(frozen=True)
class OutcomeFigures:
    """Returns summarised: how many, their mean and median, and the share above zero (NaN when none)."""

    count: int
    mean: float
    median: float
    hit_rate: float

    @classmethod
    def of(cls, returns: np.ndarray) -> OutcomeFigures:
        values = np.asarray(returns, dtype="float64")
        values = values[~np.isnan(values)]
        if not len(values):
            return cls(0, math.nan, math.nan, math.nan)
        return cls(len(values), float(values.mean()), float(np.median(values)), float((values > 0).mean()))

    def describe(self) -> str:
        return f"mean {self.mean:+.2%}, median {self.median:+.2%}, {self.hit_rate:.0%} up"


@dataclass(frozen=True)
class SetupMemory:
    """The memory's answer for one (symbol, session): ``neighbours`` of the k asked for were found."""

    symbol: str
    session: pd.Timestamp
    k: int
    horizon: int
    neighbours: OutcomeFigures
    baseline: OutcomeFigures
    trades: OutcomeFigures
    median_distance: float

    def as_json(self) -> dict[str, object]:
        """Numbers only, for a prompt's JSON data (NaN as null): no text from the store reaches a model."""
        return {
            "horizon_sessions": self.horizon,
            "k": self.k,
            "median_distance": _number(self.median_distance),
            "neighbours": _numbers(self.neighbours),
            "same_sessions_baseline": _numbers(self.baseline),
            "neighbour_trades": _numbers(self.trades),
        }

    def row(self) -> dict[str, object]:
        """The answer as one row of ``SUMMARY_COLUMNS``."""
        figures = {f"{g}_{c}": getattr(getattr(self, g), c) for g in FIGURE_GROUPS for c in FIGURE_COLUMNS}
        return {
            "date": self.session,
            "symbol": self.symbol,
            "k": self.k,
            "horizon": self.horizon,
            "median_distance": self.median_distance,
            **figures,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SetupMemory:
        """The answer a ``SUMMARY_COLUMNS`` row holds (as ``row`` wrote it)."""

        def figures(group: str) -> OutcomeFigures:
            rest = (float(row[f"{group}_{c}"]) for c in FIGURE_COLUMNS[1:])
            return OutcomeFigures(int(row[f"{group}_count"]), *rest)

        return cls(
            symbol=str(row["symbol"]),
            session=pd.Timestamp(row["date"]),
            k=int(row["k"]),
            horizon=int(row["horizon"]),
            neighbours=figures("neighbours"),
            baseline=figures("baseline"),
            trades=figures("trades"),
            median_distance=float(row["median_distance"]),
        )

    def describe(self) -> str:
        if not self.neighbours.count:
            return f"no past setup visible on {self.session.date()}"
        text = (
            f"{self.neighbours.count} similar past setups, {self.horizon}-session forward return: "
            f"{self.neighbours.describe()}; same sessions: {self.baseline.describe()}"
        )
        if self.trades.count:
            text += f"; their trades ({self.trades.count}): {self.trades.describe()}"
        return text


def similar_setups(
    store: SetupStore,
    symbol: str,
    session: Day,
    vector: np.ndarray,
    k: int = DEFAULT_K,
    horizon: int = DEFAULT_HORIZON,
    exclude_own_symbol: bool = False,
) -> SetupMemory:
    """The figures of the k setups nearest to ``vector`` (the setup of ``symbol`` on ``session``) among
    those visible as of ``session``, and of their date-matched baseline. ``horizon`` is the one the stored
    outcomes were computed with (it labels the figures). ``exclude_own_symbol`` leaves the symbol's own past
    out, e.g. to ask what other stocks did in this situation."""
    day = pd.Timestamp(session)
    found = store.query(vector, day, k, exclude_symbol=symbol if exclude_own_symbol else None)
    same_sessions = store.outcomes_on(list(found["date"].value_counts().index), day)
    return _memory(symbol, day, k, horizon, found, same_sessions)


def similar_setups_many(
    store: SetupStore, setups: pd.DataFrame, k: int = DEFAULT_K, horizon: int = DEFAULT_HORIZON
) -> list[SetupMemory]:
    """``similar_setups`` of every row of ``setups`` (date, symbol and the ``FEATURES``), in its order, with the
    same figures: the neighbours in one ``query_many``, the baselines in one ``outcomes_on`` per session."""
    if not len(setups):
        return []
    found = store.query_many(setups[list(FEATURES)].to_numpy(dtype="float64"), list(setups["date"]), k)
    by_query = dict(iter(found.drop(columns="query").groupby(found["query"].to_numpy(), sort=False)))
    empty = found.drop(columns="query").iloc[:0]
    memories: dict[int, SetupMemory] = {}
    positions = pd.Series(np.arange(len(setups))).groupby(setups["date"].to_numpy(), sort=True)
    for session, queries in positions:
        day = pd.Timestamp(session)
        neighbours = {int(q): by_query.get(int(q), empty) for q in queries}
        dates = pd.unique(pd.concat([n["date"] for n in neighbours.values()]))
        same_sessions = store.outcomes_on(list(dates), day)
        for q, near in neighbours.items():
            mine = same_sessions[same_sessions["date"].isin(near["date"]).to_numpy()]
            memories[q] = _memory(str(setups["symbol"].iloc[q]), day, k, horizon, near, mine)
    return [memories[q] for q in range(len(setups))]


def _memory(
    symbol: str, day: pd.Timestamp, k: int, horizon: int, found: pd.DataFrame, same_sessions: pd.DataFrame
) -> SetupMemory:
    """The figures of neighbours ``found`` and of ``same_sessions``, every setup of their sessions."""
    per_session = found["date"].value_counts()
    weights = same_sessions["date"].map(per_session).to_numpy(dtype="int64")
    baseline = np.repeat(same_sessions["forward_return"].to_numpy(dtype="float64"), weights)
    return SetupMemory(
        symbol=symbol,
        session=day,
        k=k,
        horizon=horizon,
        neighbours=OutcomeFigures.of(found["forward_return"].to_numpy()),
        baseline=OutcomeFigures.of(baseline),
        trades=OutcomeFigures.of(found["trade_return"].to_numpy()),
        median_distance=float(found["distance"].median()) if len(found) else math.nan,
    )


def neighbour_figures(neighbours: pd.DataFrame, queries: int) -> pd.DataFrame:
    """``FIGURE_COLUMNS`` of the forward returns per query of a ``query_many`` answer, one row per query
    0..queries-1 (count 0 and NaN for a query without neighbours): what the check reads, for many at once."""
    returns = neighbours.groupby("query")["forward_return"]
    out = pd.DataFrame(
        {
            "count": returns.count(),
            "mean": returns.mean(),
            "median": returns.median(),
            "hit_rate": (neighbours["forward_return"] > 0).groupby(neighbours["query"]).mean(),
        }
    ).reindex(range(queries))
    out["count"] = out["count"].fillna(0).astype("int64")
    return out.reset_index(drop=True)


def _number(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


def _numbers(figures: OutcomeFigures) -> dict[str, float | int | None]:
    return {key: value if key == "count" else _number(value) for key, value in asdict(figures).items()}


def summary_frame(memories: list[SetupMemory]) -> pd.DataFrame:
    """``SUMMARY_COLUMNS``, one row per answer."""
    frame = pd.DataFrame([m.row() for m in memories], columns=SUMMARY_COLUMNS)
    counts = [f"{group}_count" for group in FIGURE_GROUPS]
    return frame.astype({"k": "int64", "horizon": "int64", **dict.fromkeys(counts, "int64")})


def with_memory(frame: pd.DataFrame, summaries: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``similar_setups`` column: each (date, symbol)'s answer as prompt JSON (numbers only),
    None where the memory has no setup vector for it. What an LLM step receives as data."""
    keyed = {
        (pd.Timestamp(r["date"]), str(r["symbol"])): SetupMemory.from_row(r).as_json()
        for r in summaries[SUMMARY_COLUMNS].to_dict("records")
    }
    found = [keyed.get((pd.Timestamp(d), str(s))) for d, s in zip(frame["date"], frame["symbol"], strict=True)]
    return frame.assign(**{MEMORY_FIELD: found})


def memory_columns(summaries: pd.DataFrame) -> pd.DataFrame:
    """The neighbours' figures of ``SUMMARY_COLUMNS`` rows as the memory check reads them (``MEMORY_COLUMNS``)."""
    return summaries[[*KEY, *(f"neighbours_{c}" for c in FIGURE_COLUMNS)]].rename(
        columns={f"neighbours_{c}": c for c in FIGURE_COLUMNS}
    )
