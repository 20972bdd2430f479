"""Walk-forward study of the memory check: does cutting the BUYs whose similar past setups lost help?

Every BUY is judged with the memory as it stood on its session: the store holds the whole panel, but a query
as of D sees only outcomes known by D, so the memory is built from the past alone, one session at a time, and
the BUY's own forward return (known only later) is what it is scored by. Forward returns are also compared
with their session's baseline (the mean forward return of every setup of that session), so that a check
that merely avoids bad market weeks is told apart from one that picks bad setups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_pipeline.domain.memory.check import DEFAULT_CHECK, MemoryCheck
from trading_pipeline.domain.memory.store import NumpySetupStore
from trading_pipeline.domain.memory.summary import DEFAULT_K, neighbour_figures
from trading_pipeline.domain.memory.vectors import FEATURES
from trading_pipeline.domain.risk.limits import RiskLimits
from trading_pipeline.domain.schema import KEY, Action


def memory_study(
    signals: pd.DataFrame,
    vectors: pd.DataFrame,
    outcomes: pd.DataFrame,
    k: int = DEFAULT_K,
    check: MemoryCheck = DEFAULT_CHECK,
    min_confidence: float = RiskLimits().min_confidence,
) -> pd.DataFrame:
    """Per year of the BUYs (and ``all``): the BUYs scored (those with a vector and a known forward return),
    how many the check flags, the mean forward return, its excess over the session's baseline and the hit
    rate of the kept and the flagged BUYs, and the mean forward return of the BUYs that reach
    ``min_confidence`` (the sizing minimum) without and with the check.
    """
    store = NumpySetupStore()
    store.add(vectors, outcomes)
    session_mean = outcomes.groupby("date")["forward_return"].mean().rename("session_mean")
    buys = (
        signals.loc[signals["action"] == Action.BUY.value, [*KEY, "confidence"]]
        .merge(vectors, on=KEY, how="inner", validate="one_to_one")
        .merge(outcomes[[*KEY, "forward_return"]], on=KEY, how="inner", validate="one_to_one")
        .merge(session_mean, left_on="date", right_index=True, how="left")
        .reset_index(drop=True)
    )
    neighbours = store.query_many(buys[list(FEATURES)].to_numpy(), list(buys["date"]), k)
    figures = neighbour_figures(neighbours, len(buys))
    flagged = check.flags(figures)
    confidence = buys["confidence"].to_numpy(dtype="float64")
    scored = pd.DataFrame(
        {
            "year": buys["date"].dt.year.astype(str),
            "flagged": flagged,
            "judged": figures["count"].to_numpy() >= check.min_neighbours,
            "forward_return": buys["forward_return"],
            "excess": buys["forward_return"] - buys["session_mean"],
            "traded": confidence >= min_confidence,
            "traded_checked": np.where(flagged, confidence * check.scale, confidence) >= min_confidence,
        }
    )
    return pd.concat([scored, scored.assign(year="all")]).groupby("year", sort=True).apply(_year, include_groups=False)


def _year(rows: pd.DataFrame) -> pd.Series:
    kept, flagged = rows[~rows["flagged"]], rows[rows["flagged"]]
    return pd.Series(
        {
            "buys": len(rows),
            "judged": int(rows["judged"].sum()),
            "flagged": len(flagged),
            "kept mean": kept["forward_return"].mean(),
            "kept excess": kept["excess"].mean(),
            "kept hit": (kept["forward_return"] > 0).mean(),
            "flagged mean": flagged["forward_return"].mean(),
            "flagged excess": flagged["excess"].mean(),
            "flagged hit": (flagged["forward_return"] > 0).mean(),
            "traded mean, no check": rows.loc[rows["traded"], "forward_return"].mean(),
            "traded mean, check": rows.loc[rows["traded_checked"], "forward_return"].mean(),
        }
    )
