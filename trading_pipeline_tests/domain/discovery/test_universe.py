"""The universe: each eligibility rule at its threshold, NaN failing, and the membership table point-in-time."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.discovery.features import FEATURE_HISTORY
from trading_pipeline.domain.discovery.filters import HardFilters
from trading_pipeline.domain.discovery.universe import (
    SURVIVORSHIP_NOTE,
    UniverseRules,
    check_membership,
    eligible_universe,
    load_membership,
)
from trading_pipeline_tests.domain.discovery.panels import features


def test_each_rule_decides_at_its_threshold_and_names_itself():
    rows = features(
        history=[FEATURE_HISTORY, FEATURE_HISTORY - 1, 500, 500, 500, 500, 500, 500, 500],
        close=[1.0, 50.0, 0.99, np.nan, 50.0, 50.0, 50.0, 50.0, 50.0],
        dollar_volume=[1e6, 2e8, 2e8, 2e8, 999_999.0, 2e8, 2e8, 2e8, np.nan],
        quarantined_share=[0.05, 0.0, 0.0, 0.0, 0.0, 0.1, 0.0, 0.05, 0.0],
        last_bar_clean=[True, True, True, True, True, True, False, True, True],
    )
    universe = eligible_universe(rows)
    assert universe["eligible"].tolist() == [True, False, False, False, False, False, False, True, False]
    assert universe["reason"].tolist() == [
        "eligible",  # every threshold met exactly: 61 bars, $1, $1M, 1 bad bar in 20
        f"history < {FEATURE_HISTORY} bars",
        "close outside [1, inf]",
        "close outside [1, inf]",  # an unknown close is never let through
        "dollar volume < $1M",
        "quarantined share > 5% of the last 20 bars",
        "bar of the previous session quarantined",
        "eligible",
        "dollar volume < $1M",
    ]
    assert universe[["date", "symbol"]].equals(rows[["date", "symbol"]])


def test_a_row_failing_several_rules_names_all_of_them_in_rule_order():
    rows = features(history=[10], close=[0.5], last_bar_clean=[False])
    assert eligible_universe(rows)["reason"][0] == (
        f"history < {FEATURE_HISTORY} bars; close outside [1, inf]; bar of the previous session quarantined"
    )


def test_thresholds_are_configurable_and_frozen():
    rules = UniverseRules(filters=HardFilters(min_history=10, min_price=5.0, max_price=100.0, max_spread=0.02))
    rows = features(close=[4.0, 101.0, 60.0, 60.0], spread=[0.01, 0.01, 0.021, 0.02])
    assert eligible_universe(rows, rules)["reason"].tolist() == [
        "close outside [5, 100]",
        "close outside [5, 100]",
        "spread proxy > 2.00%",
        "eligible",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.max_quarantined_share = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="price range"):
        HardFilters(min_history=0, min_price=10.0, max_price=5.0)
    with pytest.raises(ValueError, match="max_quarantined_share"):
        UniverseRules(max_quarantined_share=1.5)


def test_membership_makes_the_universe_point_in_time():
    days = pd.to_datetime(["2015-01-02", "2015-06-30", "2015-07-01", "2016-03-01", "2016-03-02"])
    rows = features(close=[50.0] * 10).assign(date=np.tile(days, 2), symbol=np.repeat(["OLD", "NEW"], 5))
    membership = pd.DataFrame(
        {
            "symbol": ["OLD", "OLD", "NEW", "GONE"],
            "start": ["2010-01-01", "2016-03-01", "2015-07-01", "2000-01-01"],
            "end": ["2015-06-30", None, None, "2001-01-01"],
        }
    )
    universe = eligible_universe(rows, membership=membership)
    # OLD: a member to 2015-06-30 inclusive, out, back from 2016-03-01 with no end; NEW: from 2015-07-01 on.
    assert universe["eligible"].tolist() == [True, True, False, True, True, False, False, True, True, True]
    assert set(universe.loc[~universe["eligible"], "reason"]) == {"not an index member on this session"}
    stranger = features(close=[50.0]).assign(symbol="XYZ")
    assert not eligible_universe(stranger, membership=membership)["eligible"][0]
    assert "survivorship-biased" in SURVIVORSHIP_NOTE


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"symbol": ["A"], "start": ["2015-01-01"]}), "lacks column"),
        (pd.DataFrame({"symbol": ["A"], "start": ["2015-02-01"], "end": ["2015-01-01"]}), r"row 0 \(A\).*after end"),
        (pd.DataFrame({"symbol": ["A", "B"], "start": ["2015-01-01", None], "end": [None, None]}), "row 1 \\(B\\)"),
        (pd.DataFrame({"symbol": [" "], "start": ["2015-01-01"], "end": [None]}), "empty symbol"),
        (pd.DataFrame({"symbol": ["A"], "start": ["first of May"], "end": [None]}), "not a date"),
    ],
)
def test_a_bad_membership_table_is_refused_naming_the_row(table, message):
    with pytest.raises(ValueError, match=message):
        check_membership(table)


def test_a_membership_file_is_read_and_checked(tmp_path):
    good = tmp_path / "members.csv"
    good.write_text("symbol,start,end\nAAPL,1982-11-30,\nXYZ,2001-01-02,2009-03-20\n")
    table = load_membership(good)
    assert table["end"].isna().tolist() == [True, False]
    assert table["start"][1] == pd.Timestamp("2001-01-02")
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,start,end\nXYZ,2009-03-20,2001-01-02\n")
    with pytest.raises(ValueError, match=r"bad\.csv: membership row 0"):
        load_membership(bad)
