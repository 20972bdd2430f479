"""Applying a review: confidence may only go down, a veto turns the action into HOLD; nothing else changes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_pipeline.domain.llm.answers import SignalReview
from trading_pipeline.domain.schema import Action


def apply_reviews(signals: pd.DataFrame, reviews: pd.DataFrame) -> pd.DataFrame:
    """``signals`` with ``confidence`` lowered, vetoed ``action`` set to HOLD and the reason in ``review``.

    ``reviews`` has columns date, symbol, confidence (NaN: unchanged), veto, reason. The minimum with the
    current confidence is taken again here, so a review can never raise a confidence whatever produced it.
    """
    out = signals.copy()
    if "review" not in out.columns:
        out["review"] = ""
    if reviews.empty:
        return out
    merged = out[["date", "symbol"]].merge(reviews, on=["date", "symbol"], how="left", validate="one_to_one")
    reviewed = merged["reason"].notna().to_numpy()
    proposed = merged["confidence"].to_numpy(dtype="float64")
    current = out["confidence"].to_numpy(dtype="float64")
    lowered = np.where(reviewed & ~np.isnan(proposed), np.minimum(proposed, current), current)
    vetoed = reviewed & merged["veto"].fillna(False).astype(bool).to_numpy()
    out["confidence"] = lowered
    out["action"] = np.where(vetoed, Action.HOLD.value, out["action"].to_numpy())
    label = np.where(vetoed, "veto: ", "lowered: ")
    out["review"] = np.where(reviewed, label + merged["reason"].fillna("").astype(str).to_numpy(), out["review"])
    return out


def reviews_frame(session: pd.Timestamp, reviews: list[SignalReview]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [session] * len(reviews),
            "symbol": [r.symbol for r in reviews],
            "confidence": [np.nan if r.confidence is None else r.confidence for r in reviews],
            "veto": [r.veto for r in reviews],
            "reason": [r.reason for r in reviews],
        },
        columns=["date", "symbol", "confidence", "veto", "reason"],
    )
