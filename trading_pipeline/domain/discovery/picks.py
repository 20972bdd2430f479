"""The one output contract of every picker: per (session, symbol) a score in [0, 1], whether the picker
suggests the symbol, and why.

A picker that judges every candidate (metric, fuzzy) has a row per candidate, selected or not, so that the
ensemble can see who rejected what; the LLM answers a ranked subset and has rows for those only (a candidate
it did not rank is not an opinion).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PICK_COLUMNS = ["date", "symbol", "picker", "score", "selected", "reason"]


def picks_frame(
    candidates: pd.DataFrame, picker: str, score: np.ndarray, selected: np.ndarray, reason: pd.Series | str
) -> pd.DataFrame:
    """``PICK_COLUMNS`` for the rows of ``candidates`` (date, symbol), in their order; ``reason`` one text for
    all or one per row, in that order (its index is ignored)."""
    return pd.DataFrame(
        {
            "date": candidates["date"].to_numpy(),
            "symbol": candidates["symbol"].array,
            "picker": picker,
            "score": np.asarray(score, dtype="float64"),
            "selected": np.asarray(selected, dtype=bool),
            "reason": reason if isinstance(reason, str) else reason.array,
        }
    )


def check_picks(picks: pd.DataFrame) -> None:
    """Raise ValueError unless ``picks`` has the columns and its scores are in [0, 1] (the ensemble checks that
    each (session, symbol, picker) has one row)."""
    missing = [c for c in PICK_COLUMNS if c not in picks.columns]
    if missing:
        raise ValueError(f"picks lack column(s) {missing}; expected {PICK_COLUMNS}")
    score = picks["score"].to_numpy(dtype="float64")
    outside = ~((score >= 0) & (score <= 1))
    if outside.any():
        row = picks.iloc[int(np.argmax(outside))]
        raise ValueError(
            f"picker {row['picker']!r} scored {row['symbol']} {row['score']} on {row['date']}: not in [0, 1]"
        )
