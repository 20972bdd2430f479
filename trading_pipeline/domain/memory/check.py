"""The memory check of validated signals: a BUY whose similar past setups mostly lost has its confidence cut.

Like the quant validation it only ever lowers an entry's confidence, with the figures in the reason: SELL and
HOLD are untouched (a SELL reduces risk), and a BUY the memory cannot judge (no setup vector, too few
visible neighbours) is reported, not penalised. A loss is a forward return at or below zero, so the loss
rate is 1 - hit rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trading_pipeline.domain.memory.summary import FIGURE_COLUMNS, SetupMemory
from trading_pipeline.domain.schema import KEY, Action

MEMORY_COLUMNS = [*KEY, *FIGURE_COLUMNS]


@dataclass(frozen=True)
class MemoryCheck:
    """A BUY with at least ``min_neighbours`` neighbours of which more than ``max_loss_rate`` lost has its
    confidence multiplied by ``scale``."""

    max_loss_rate: float = 0.6
    min_neighbours: int = 10
    scale: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.scale <= 1.0:
            raise ValueError(
                f"the memory check's scale must lie in [0, 1] (it may only lower confidence): {self.scale}"
            )
        if not 0.0 <= self.max_loss_rate < 1.0:
            raise ValueError(f"max_loss_rate must lie in [0, 1), got {self.max_loss_rate}")
        if self.min_neighbours < 1:
            raise ValueError(f"min_neighbours must be >= 1, got {self.min_neighbours}")

    def flags(self, memory: pd.DataFrame) -> np.ndarray:
        """Which rows of a ``MEMORY_COLUMNS`` frame the check would scale down (whatever their action)."""
        count = memory["count"].to_numpy(dtype="float64")
        loss_rate = 1.0 - memory["hit_rate"].to_numpy(dtype="float64")
        return (count >= self.min_neighbours) & (loss_rate > self.max_loss_rate)


DEFAULT_CHECK = MemoryCheck()


def memory_frame(memories: Iterable[SetupMemory]) -> pd.DataFrame:
    """``MEMORY_COLUMNS`` (the neighbours' figures) of each answer of ``similar_setups``."""
    rows = [
        {"date": m.session, "symbol": m.symbol, **{c: getattr(m.neighbours, c) for c in FIGURE_COLUMNS}}
        for m in memories
    ]
    return pd.DataFrame(rows, columns=MEMORY_COLUMNS)


def check_memory(signals: pd.DataFrame, memory: pd.DataFrame, check: MemoryCheck = DEFAULT_CHECK) -> pd.DataFrame:
    """``signals`` (validated: action, confidence, validation) with the check applied: flagged BUYs'
    ``confidence`` multiplied by ``check.scale`` and every BUY's memory verdict appended to ``validation``.

    ``memory``: ``MEMORY_COLUMNS`` per (date, symbol), at most one row each. Raises ValueError on missing
    columns or duplicate memory rows.
    """
    missing = [c for c in MEMORY_COLUMNS if c not in memory.columns]
    missing += [c for c in [*KEY, "action", "confidence"] if c not in signals.columns]
    if missing:
        raise ValueError(f"the memory check needs the columns {missing}")
    if memory.duplicated(KEY).any():
        raise ValueError(
            f"memory holds duplicate (date, symbol) rows, e.g. {memory[memory.duplicated(KEY)].iloc[0][KEY].tolist()}"
        )
    out = signals.reset_index(drop=True)
    known = out[KEY].merge(memory[MEMORY_COLUMNS], on=KEY, how="left", validate="one_to_one")
    known["count"] = known["count"].fillna(0).astype("int64")
    buy = (out["action"] == Action.BUY.value).to_numpy()
    flagged = buy & check.flags(known)
    verdicts = np.full(len(out), "", dtype=object)
    verdicts[buy] = [
        _verdict(count, hit_rate, mean, check, hit)
        for count, hit_rate, mean, hit in zip(
            known["count"][buy], known["hit_rate"][buy], known["mean"][buy], flagged[buy], strict=True
        )
    ]
    previous = np.full(len(out), "", dtype=object)
    if "validation" in out.columns:
        previous = out["validation"].fillna("").astype(str).to_numpy(dtype=object)
    joined = np.where((previous != "") & (verdicts != ""), "; ", "").astype(object)
    out["confidence"] = out["confidence"].to_numpy(dtype="float64") * np.where(flagged, check.scale, 1.0)
    out["validation"] = (previous + joined + verdicts).astype(str)
    return out


def _verdict(count: int, hit_rate: float, mean: float, check: MemoryCheck, flagged: bool) -> str:
    if count < check.min_neighbours:
        return f"memory not judged ({count} < {check.min_neighbours} similar past setups)"
    loss_rate = 1.0 - hit_rate
    limit = f" > {check.max_loss_rate:.0%}" if flagged else ""
    return (
        f"memory: {round(count * loss_rate)} of {count} similar past setups lost "
        f"({loss_rate:.0%}{limit}; mean {mean:+.2%})"
    )
