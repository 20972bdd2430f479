"""MetricPicker: hard filters, pass or fail, stricter than the universe's floor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pandas as pd

from trading_pipeline.domain.discovery.filters import HardFilters, verdicts
from trading_pipeline.domain.discovery.picks import picks_frame


@dataclass(frozen=True)
class MetricPicker:
    """Suggests every candidate that passes ``filters`` (score 1), rejects the others (score 0) naming the
    failed rules. Defaults: a year of history (a new listing's first year is left out), a close of at least
    $5 (no penny stocks), $50M of average daily dollar volume (about the S&P 500's 10th percentile in
    2013-2018) and a spread proxy of at most 3% (its 95th percentile)."""

    name: ClassVar[str] = "metric"
    filters: HardFilters = field(
        default_factory=lambda: HardFilters(min_history=252, min_price=5.0, min_dollar_volume=50e6, max_spread=0.03)
    )

    def pick(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """``PICK_COLUMNS`` for every candidate (rows of the discovery features)."""
        passed, reason = verdicts(self.filters.rules(candidates), f"passes {self.filters.describe()}", len(candidates))
        return picks_frame(candidates, self.name, passed.astype("float64"), passed, reason)
