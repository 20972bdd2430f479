"""The strategy contract and the helpers every strategy shares.

A strategy maps the whole indicators panel (all symbols, all dates) to one signal per row in a single
vectorized pass; cross-sectional strategies need the universe, and per-day loops would be too slow for
a backtest. ``Strategy.generate`` applies the minimum-history rule after the strategy's own rule, so no
strategy can forget it: a row with too little history is a HOLD with a reason, never an exception and
never a NaN confidence.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import pandas as pd

from trading_pipeline.domain.schema import Action, StrategyName

SIGNAL_OUTPUT_COLUMNS = ["action", "confidence", "stop", "target", "reason"]

# Confidence of any BUY/SELL lies in [MIN_SIGNAL_CONFIDENCE, 1]; a HOLD has confidence 0.
MIN_SIGNAL_CONFIDENCE = 0.3
# Protective stop and profit target distances, in multiples of ATR14 from the signal bar's close.
STOP_ATR_MULTIPLE = 1.5
TARGET_ATR_MULTIPLE = 3.0


class Strategy(ABC):
    """A deterministic signal rule over the indicators panel.

    Subclasses set ``name`` and ``min_history`` and implement ``rule``; callers use ``generate``.
    """

    name: ClassVar[StrategyName | str]
    min_history: ClassVar[int]

    def generate(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Signals aligned to ``panel.index``: the rule's output with the minimum-history rule applied."""
        return apply_min_history(self.rule(panel), panel["history"], self.min_history)

    @abstractmethod
    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        """The strategy's own signals (``SIGNAL_OUTPUT_COLUMNS``, aligned to ``panel.index``)."""


def apply_min_history(signals: pd.DataFrame, history: pd.Series, min_history: int) -> pd.DataFrame:
    """Turn rows whose symbol has fewer than ``min_history`` clean bars into a reasoned HOLD."""
    short = history < min_history
    out = signals.copy()
    out.loc[short, "action"] = Action.HOLD.value
    out.loc[short, "confidence"] = 0.0
    out.loc[short, ["stop", "target"]] = np.nan
    out.loc[short, "reason"] = (
        "insufficient history: " + history[short].astype("int64").astype(str) + f" < {min_history} bars"
    )
    return out


def confidence_ramp(excess: pd.Series, full_at: float) -> pd.Series:
    """Confidence rising linearly from the minimum at ``excess`` 0 to 1 at ``full_at``."""
    return MIN_SIGNAL_CONFIDENCE + (1.0 - MIN_SIGNAL_CONFIDENCE) * excess / full_at


def atr_signals(
    panel: pd.DataFrame,
    buy: pd.Series,
    sell: pd.Series,
    confidence: pd.Series,
    reason: pd.Series,
) -> pd.DataFrame:
    """Assemble BUY/SELL/HOLD rows with ATR-based stops and targets.

    ``buy`` and ``sell`` are disjoint boolean masks. On a signal the confidence is clipped to
    [MIN_SIGNAL_CONFIDENCE, 1] (an undefined strength, e.g. a zero ATR, gets the minimum); a HOLD gets
    confidence 0 and NaN stop/target. The stop sits ``STOP_ATR_MULTIPLE`` ATRs against the trade and the
    target ``TARGET_ATR_MULTIPLE`` ATRs in its favour.
    """
    direction = np.select([buy, sell], [1.0, -1.0], default=np.nan)
    signal = buy | sell
    close, atr = panel["close"], panel["atr14"]
    return pd.DataFrame(
        {
            "action": np.select([buy, sell], [Action.BUY.value, Action.SELL.value], Action.HOLD.value),
            "confidence": np.where(
                signal, confidence.fillna(MIN_SIGNAL_CONFIDENCE).clip(MIN_SIGNAL_CONFIDENCE, 1.0), 0.0
            ),
            "stop": close - direction * STOP_ATR_MULTIPLE * atr,
            "target": close + direction * TARGET_ATR_MULTIPLE * atr,
            "reason": reason,
        },
        index=panel.index,
    )


def format_values(values: pd.Series, decimals: int, signed: bool = False) -> pd.Series:
    """Fixed-point strings for reason texts (NaN → "nan").

    Each distinct rounded value is formatted once, so labelling the whole panel stays cheap.
    """
    codes, uniques = pd.factorize(values.round(decimals))
    spec = f"{{:{'+' if signed else ''}.{decimals}f}}"
    labels = np.array([spec.format(value) for value in uniques] + ["nan"], dtype=object)
    return pd.Series(labels[codes], index=values.index, dtype="str")
