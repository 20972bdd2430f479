"""MetricPicker: pass or fail on hard filters, with the failures named."""

from __future__ import annotations

import numpy as np

from trading_pipeline.domain.discovery.filters import HardFilters
from trading_pipeline.domain.discovery.metric_picker import MetricPicker
from trading_pipeline.domain.discovery.picks import PICK_COLUMNS
from trading_pipeline_tests.domain.discovery.panels import features


def test_candidates_pass_at_the_thresholds_and_fail_just_beyond_them():
    rows = features(
        history=[252, 251, 500, 500, 500, 500],
        close=[5.0, 50.0, 4.99, 50.0, 50.0, np.nan],
        dollar_volume=[50e6, 2e8, 2e8, 49.9e6, 2e8, 2e8],
        spread=[0.03, 0.01, 0.01, 0.01, 0.0301, 0.01],
    )
    picks = MetricPicker().pick(rows)
    assert list(picks.columns) == PICK_COLUMNS
    assert picks["selected"].tolist() == [True, False, False, False, False, False]
    assert picks["score"].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert set(picks["picker"]) == {"metric"}
    assert picks["reason"][0].startswith("passes history >= 252 bars")
    assert picks["reason"].tolist()[1:] == [
        "history < 252 bars",
        "close outside [5, inf]",
        "dollar volume < $50M",
        "spread proxy > 3.00%",
        "close outside [5, inf]",
    ]


def test_own_filters_replace_the_defaults():
    picker = MetricPicker(HardFilters(min_history=20, min_price=1.0, max_price=100.0, min_dollar_volume=1e6))
    rows = features(history=[20, 20], close=[100.0, 100.5], spread=[0.5, 0.5])
    assert picker.pick(rows)["selected"].tolist() == [True, False]  # no spread cap: an infinite maximum
