"""Quant validation of signals: poor conditions scale confidence down, never up, and say why."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trading_pipeline.domain.schema import KEY


@dataclass(frozen=True)
class ValidationThresholds:
    """A volatility spike or thin volume makes a signal less trustworthy; both only ever lower confidence."""

    volatility_spike_ratio: float = 1.5
    volatility_spike_scale: float = 0.5
    thin_volume_ratio: float = 0.5
    thin_volume_scale: float = 0.75


def validate_signals(
    signals: pd.DataFrame, context: pd.DataFrame, thresholds: ValidationThresholds = ValidationThresholds()
) -> pd.DataFrame:
    """Signals with ``raw_confidence``, the adjusted ``confidence`` and ``validation`` (the reasons)."""
    features = context[[*KEY, "volatility_ratio", "volume_ratio"]]
    frame = signals.merge(features, on=KEY, how="left", validate="one_to_one")
    spike = frame["volatility_ratio"] > thresholds.volatility_spike_ratio
    thin = frame["volume_ratio"] < thresholds.thin_volume_ratio
    scale = np.where(spike, thresholds.volatility_spike_scale, 1.0) * np.where(thin, thresholds.thin_volume_scale, 1.0)
    spike_text = ("volatility spike (ratio " + frame["volatility_ratio"].round(2).astype(str) + ")").where(spike, "")
    thin_text = ("thin volume (ratio " + frame["volume_ratio"].round(2).astype(str) + ")").where(thin, "")
    frame["raw_confidence"] = frame["confidence"]
    frame["confidence"] = frame["confidence"] * np.minimum(scale, 1.0)
    frame["validation"] = spike_text + pd.Series(np.where(spike & thin, "; ", ""), index=frame.index) + thin_text
    return frame.drop(columns=["volatility_ratio", "volume_ratio"])
