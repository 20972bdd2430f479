"""Pass-or-fail rules on the discovery features, shared by the universe and the MetricPicker.

Each rule is a (failure text, failing mask) pair; the verdict of a row names every rule it fails, in rule
order. A NaN feature fails its rule: a symbol is never let through on a value that is not known.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trading_pipeline.domain.strategies.base import text_table

type Rule = tuple[str, np.ndarray]


@dataclass(frozen=True)
class HardFilters:
    """Thresholds on the features of D-1 (see ``features.py``): at least ``min_history`` clean bars, a last
    close in [``min_price``, ``max_price``], an average dollar volume of at least ``min_dollar_volume`` and a
    spread proxy of at most ``max_spread`` (a fraction of the close)."""

    min_history: int
    min_price: float
    max_price: float = math.inf
    min_dollar_volume: float = 0.0
    max_spread: float = math.inf

    def __post_init__(self) -> None:
        if self.min_history < 0:
            raise ValueError(f"min_history must be >= 0, got {self.min_history}")
        if not 0 <= self.min_price <= self.max_price:
            raise ValueError(f"price range must satisfy 0 <= min <= max, got [{self.min_price}, {self.max_price}]")
        if self.min_dollar_volume < 0 or not self.max_spread > 0:
            raise ValueError(
                f"min_dollar_volume must be >= 0 and max_spread > 0, got {self.min_dollar_volume}, {self.max_spread}"
            )

    def rules(self, features: pd.DataFrame) -> list[Rule]:
        """The rules whose threshold binds (a zero minimum or an infinite maximum is no rule)."""
        close = features["close"].to_numpy(dtype="float64")
        rules: list[Rule] = []
        if self.min_history > 0:
            rules.append((f"history < {self.min_history} bars", ~(features["history"].to_numpy() >= self.min_history)))
        if self.min_price > 0 or self.max_price < math.inf:
            outside = ~((close >= self.min_price) & (close <= self.max_price))
            rules.append((f"close outside [{self.min_price:g}, {self.max_price:g}]", outside))
        if self.min_dollar_volume > 0:
            volume = features["dollar_volume"].to_numpy(dtype="float64")
            rules.append((f"dollar volume < {dollars(self.min_dollar_volume)}", ~(volume >= self.min_dollar_volume)))
        if self.max_spread < math.inf:
            spread = features["spread"].to_numpy(dtype="float64")
            rules.append((f"spread proxy > {self.max_spread:.2%}", ~(spread <= self.max_spread)))
        return rules

    def describe(self) -> str:
        return (
            f"history >= {self.min_history} bars, close in [{self.min_price:g}, {self.max_price:g}], "
            f"dollar volume >= {dollars(self.min_dollar_volume)}, spread proxy <= {self.max_spread:.2%}"
        )


def verdicts(rules: Sequence[Rule], passed_text: str, size: int) -> tuple[np.ndarray, pd.Series]:
    """Per row: whether it passes every rule, and its reason (``passed_text``, or the failures joined by "; ").
    One label per distinct combination of failures, spread over the rows."""
    codes = np.zeros(size, dtype=np.int64)
    for bit, (_, failing) in enumerate(rules):
        codes |= np.asarray(failing, dtype=bool).astype(np.int64) << bit
    distinct, inverse = np.unique(codes, return_inverse=True)
    labels = [
        "; ".join(text for bit, (text, _) in enumerate(rules) if code >> bit & 1) or passed_text
        for code in distinct.tolist()
    ]
    return codes == 0, pd.Series(text_table(labels).take(inverse), dtype="str")


def dollars(value: float) -> str:
    """$12.3M style, for thresholds in reasons."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"${value / scale:g}{suffix}"
    return f"${value:g}"
