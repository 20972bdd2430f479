"""EnsembleCombiner: the weighted merge by hand, de-duplication into one row per symbol, ranking, the cap, and
the divergence flag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.discovery.ensemble import WATCHLIST_COLUMNS, EnsembleCombiner
from trading_pipeline.domain.discovery.picks import PICK_COLUMNS

DAY = pd.Timestamp("2021-06-01")


def _picks(*rows: tuple) -> pd.DataFrame:
    """(symbol, picker, score, selected[, date]) rows, reason "<picker> on <symbol>"."""
    frame = pd.DataFrame(
        [
            {
                "date": row[4] if len(row) > 4 else DAY,
                "symbol": row[0],
                "picker": row[1],
                "score": row[2],
                "selected": row[3],
                "reason": f"{row[1]} on {row[0]}",
            }
            for row in rows
        ]
    )
    return frame[PICK_COLUMNS]


SESSION = _picks(
    ("A", "metric", 1.0, True),
    ("A", "fuzzy", 0.8, True),
    ("A", "llm", 1.0, True),
    ("B", "metric", 0.0, False),
    ("B", "fuzzy", 0.9, True),
    ("B", "llm", 0.95, True),
    ("C", "metric", 1.0, True),
    ("C", "fuzzy", 0.5, False),
    ("D", "metric", 0.0, False),
    ("D", "fuzzy", 0.3, False),
)


def test_the_score_is_the_weighted_sum_and_only_suggested_symbols_enter():
    watchlist = EnsembleCombiner().combine(SESSION)
    assert list(watchlist.columns) == WATCHLIST_COLUMNS
    # Default weights 0.3 metric, 0.4 fuzzy, 0.3 llm; the LLM did not rank C: it adds 0. Nobody selected D.
    expected = {
        "A": 0.3 * 1.0 + 0.4 * 0.8 + 0.3 * 1.0,
        "B": 0.3 * 0.0 + 0.4 * 0.9 + 0.3 * 0.95,
        "C": 0.3 * 1.0 + 0.4 * 0.5,
    }
    assert watchlist["symbol"].tolist() == ["A", "B", "C"]
    np.testing.assert_allclose(watchlist["score"], [expected["A"], expected["B"], expected["C"]])
    assert watchlist["rank"].tolist() == [1, 2, 3]
    assert watchlist["pickers"].tolist() == ["metric+fuzzy+llm", "fuzzy+llm", "metric"]
    assert watchlist["reason"][2] == "metric 1.00: metric on C; fuzzy 0.50: fuzzy on C"


def test_the_metric_rejecting_what_the_llm_ranks_first_is_a_divergence():
    picks = _picks(("X", "metric", 0.0, False), ("X", "fuzzy", 0.9, True), ("X", "llm", 1.0, True))
    row = EnsembleCombiner().combine(picks).iloc[0]
    assert row["divergent"] and row["divergence"] == "selected by fuzzy, llm; rejected by metric"
    flags = EnsembleCombiner().combine(SESSION).set_index("symbol")
    assert flags["divergent"].to_dict() == {"A": False, "B": True, "C": True}
    assert flags.loc["C", "divergence"] == "selected by metric; rejected by fuzzy"
    assert flags.loc["A", "divergence"] == ""


def test_weights_are_normalised_and_configurable():
    same = EnsembleCombiner(weights={"metric": 3.0, "fuzzy": 4.0, "llm": 3.0}).combine(SESSION)
    pd.testing.assert_frame_equal(same, EnsembleCombiner().combine(SESSION))
    fuzzy_only = EnsembleCombiner(weights={"metric": 0.0, "fuzzy": 1.0, "llm": 0.0}).combine(SESSION)
    assert fuzzy_only["symbol"].tolist() == ["B", "A", "C"]
    np.testing.assert_allclose(fuzzy_only["score"], [0.9, 0.8, 0.5])


def test_each_session_is_ranked_and_capped_alone_with_ties_by_symbol():
    other = pd.Timestamp("2021-06-02")
    picks = _picks(
        ("B", "fuzzy", 0.9, True),
        ("A", "fuzzy", 0.9, True),
        ("C", "fuzzy", 0.95, True),
        ("Z", "fuzzy", 0.7, True, other),
        ("Y", "fuzzy", 0.8, True, other),
    )
    watchlist = EnsembleCombiner(max_size=2).combine(picks)
    assert list(zip(watchlist["date"], watchlist["symbol"], watchlist["rank"], strict=True)) == [
        (DAY, "C", 1),
        (DAY, "A", 2),
        (other, "Y", 1),
        (other, "Z", 2),
    ]


def test_no_suggestion_gives_an_empty_watchlist():
    assert EnsembleCombiner().combine(_picks(("D", "metric", 0.0, False))).empty
    assert EnsembleCombiner().combine(SESSION.iloc[:0]).empty


@pytest.mark.parametrize(
    ("picks", "message"),
    [
        (_picks(("A", "astrology", 1.0, True)), "without an ensemble weight: \\['astrology'\\]"),
        (_picks(("A", "fuzzy", 0.8, True), ("A", "fuzzy", 0.9, True)), "picked A more than once"),
        (_picks(("A", "fuzzy", 1.2, True)), "not in \\[0, 1\\]"),
        (_picks(("A", "fuzzy", np.nan, True)), "not in \\[0, 1\\]"),
        (SESSION.drop(columns="selected"), "lack column"),
    ],
)
def test_bad_picks_are_refused(picks, message):
    with pytest.raises(ValueError, match=message):
        EnsembleCombiner().combine(picks)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"weights": {"metric": -1.0, "fuzzy": 2.0}}, "positive sum"),
        ({"weights": {"metric": 0.0}}, "positive sum"),
        ({"max_size": 0}, "max_size must be >= 1"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        EnsembleCombiner(**settings)
