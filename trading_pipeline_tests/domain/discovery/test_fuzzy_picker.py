"""FuzzyPicker: each membership at hand-picked points, sector balance against the book, the weighted score."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.discovery.fuzzy_picker import FuzzyPicker
from trading_pipeline_tests.domain.discovery.panels import features

SECTORS = {"T1": "Tech", "T2": "Tech", "T3": "Tech", "E1": "Energy", "U1": "Utilities"}


def test_memberships_grade_liquidity_volatility_and_momentum():
    rows = features(
        dollar_volume=[1e7, 1e8, 1e9, 5e6, np.nan, 1e8],
        volatility=[0.0075, 0.01, 0.02, 0.03, 0.05, np.nan],
        momentum=[-0.2, -0.1, 0.05, 0.2, 0.5, np.nan],
    )
    m = FuzzyPicker().memberships(rows, sectors={})
    # Liquidity is linear in log dollar volume from $10M (0) to $1B (1): $100M is half way.
    np.testing.assert_allclose(m["liquidity"], [0.0, 0.5, 1.0, 0.0, 0.0, 0.5])
    # Volatility: up from 0 at 0.5% to 1 at 1%, flat to 2%, down to 0 at 4%.
    np.testing.assert_allclose(m["volatility"], [0.5, 1.0, 1.0, 0.5, 0.0, 0.0])
    # Momentum: 0 at -10% and below, 1 at +20% and above.
    np.testing.assert_allclose(m["momentum"], [0.0, 0.0, 0.5, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(m["sector"], np.ones(6))  # nothing held


def test_sector_balance_scores_a_crowded_sector_low():
    day, other = pd.Timestamp("2021-06-01"), pd.Timestamp("2021-06-02")
    holdings = pd.DataFrame({"date": [day] * 4, "symbol": ["T1", "T2", "T3", "E1"]})
    rows = features(close=[50.0] * 4).assign(symbol=["T1", "E1", "U1", "ZZZ"])
    rows = pd.concat([rows, rows.assign(date=other)], ignore_index=True)
    m = FuzzyPicker().memberships(rows, holdings, SECTORS)
    # On `day` the book holds 3 Tech of 4 and 1 Energy; an unknown symbol is its own sector. Nothing on `other`.
    np.testing.assert_allclose(m["sector"], [1 - 3 / 4, 1 - 1 / 4, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="holdings lack"):
        FuzzyPicker().memberships(rows, holdings.rename(columns={"symbol": "ticker"}), SECTORS)


def test_the_score_is_the_normalised_weighted_mean_and_selects_above_the_minimum():
    rows = features(dollar_volume=[1e8, 1e9, 1e7], volatility=[0.015, 0.015, 0.05], momentum=[0.05, 0.2, -0.1])
    picker = FuzzyPicker(weights={"liquidity": 2.0, "momentum": 2.0}, min_score=0.75)
    picks = picker.pick(rows, sectors={})
    # liquidity (0.5, 1, 0) and momentum (0.5, 1, 0), half each; volatility and sector weigh 0.
    np.testing.assert_allclose(picks["score"], [0.5, 1.0, 0.0])
    assert picks["selected"].tolist() == [False, True, False]
    assert picks["reason"][0] == ("score 0.500 < 0.75: liquidity 0.50, volatility 1.00, momentum 0.50, sector 1.00")
    assert picks["reason"][1].startswith("score 1.000 >= 0.75: ")
    default = FuzzyPicker().pick(rows, sectors={})
    np.testing.assert_allclose(default["score"], [(0.5 + 1 + 0.5 + 1) / 4, 1.0, (0 + 0 + 0 + 1) / 4])
    assert default["selected"].tolist() == [True, True, False]  # min score 0.7


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"weights": {"liquidity": 1.0, "beauty": 1.0}}, "unknown criteria"),
        ({"weights": {"liquidity": -1.0, "momentum": 2.0}}, "positive sum"),
        ({"weights": {"liquidity": 0.0}}, "positive sum"),
        ({"min_score": 1.5}, "min_score"),
        ({"volatility": (0.01, 0.005, 0.02, 0.04)}, "strictly increasing"),
        ({"liquidity": (0.0, 1e9)}, "log scale"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        FuzzyPicker(**settings)


def test_weights_are_normalised():
    weights = FuzzyPicker(weights={"liquidity": 3.0, "volatility": 1.0}).normalised_weights()
    assert weights == {"liquidity": 0.75, "volatility": 0.25, "momentum": 0.0, "sector": 0.0}
    assert math.isclose(sum(FuzzyPicker().normalised_weights().values()), 1.0)
