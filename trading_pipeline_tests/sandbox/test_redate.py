"""Re-dating the bundled bars onto the NYSE sessions ending at a chosen day."""

from datetime import date

import pandas as pd
import pytest

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.domain import calendar
from trading_pipeline.domain.bars import load_bars_file
from trading_pipeline.sandbox.redate import redate

BUNDLE = load_bars_file(SAMPLE_BARS)


def test_the_last_bundled_sessions_land_one_to_one_on_the_sessions_ending_at_the_chosen_day():
    last = date(2026, 12, 4)
    moved = redate(BUNDLE, last)
    bundled = sorted(BUNDLE["date"].unique())
    # the n-th session from the end of the bundle is the n-th NYSE session back from 2026-12-04
    for back in (0, 1, 17, len(bundled) - 1):
        expected_day = calendar.session_offset(last, -back)
        original = BUNDLE[BUNDLE["date"] == bundled[-1 - back]].drop(columns="date").reset_index(drop=True)
        now = moved[moved["date"] == expected_day].drop(columns="date").reset_index(drop=True)
        pd.testing.assert_frame_equal(now, original)
    assert moved["date"].max() == pd.Timestamp(last)
    assert set(moved["date"]) <= set(calendar.sessions(moved["date"].min(), last))
    assert moved["date"].nunique() == len(bundled) and len(moved) == len(BUNDLE)


def test_thanksgiving_week_keeps_its_holiday_and_its_early_close_dates_free_of_gaps():
    moved = redate(BUNDLE, date(2026, 11, 27))  # the Friday after Thanksgiving 2026, an early close
    days = sorted(set(moved["date"]))[-4:]
    assert [d.date() for d in days] == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 27)]


def test_only_a_session_can_be_the_last_one():
    with pytest.raises(ValueError, match="2026-12-05: not an XNYS session"):
        redate(BUNDLE, date(2026, 12, 5))
