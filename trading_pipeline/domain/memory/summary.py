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
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from trading_pipeline.domain.memory.outcomes import DEFAULT_HORIZON
from trading_pipeline.domain.memory.store import Day, SetupStore

DEFAULT_K = 20
FIGURE_COLUMNS = ["count", "mean", "median", "hit_rate"]


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
    per_session = found["date"].value_counts()
    same_sessions = store.outcomes_on(list(per_session.index), day)
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
