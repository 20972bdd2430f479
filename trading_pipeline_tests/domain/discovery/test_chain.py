"""The whole chain on the bundled five stocks: truncating the bars after D changes no universe, pick or
watchlist row of any session up to the one after D, and no forward return is known early."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.data import SAMPLE_BARS, SAMPLE_REAL_MOVES
from trading_pipeline.domain import calendar
from trading_pipeline.domain.bars import load_bars_file, validate_bars
from trading_pipeline.domain.discovery.chain import ENSEMBLE, Discovery, DiscoverySettings, discover, picker_report
from trading_pipeline.domain.discovery.ensemble import EnsembleCombiner
from trading_pipeline.domain.discovery.scoring import HORIZONS, forward_returns

# A cap of 2 of the 5 symbols, so that the ranking and the cap matter.
SETTINGS = DiscoverySettings(ensemble=EnsembleCombiner(max_size=2))
CUTOFFS = ["2004-08-31", "2008-10-10", "2012-05-18"]  # FB's first bar is 2012-05-18


@cache
def _bars() -> pd.DataFrame:
    return validate_bars(load_bars_file(SAMPLE_BARS), accepted_moves=SAMPLE_REAL_MOVES)


@cache
def _full() -> Discovery:
    return discover(_bars(), SETTINGS, holdings=_holdings(_bars()))


def _holdings(panel: pd.DataFrame) -> pd.DataFrame:
    """The book holds IBM on every session from 2004 on, and MSFT on Mondays (sector balance has work to do)."""
    days = pd.DatetimeIndex(sorted(panel["date"].unique()))
    days = days[days >= "2004-01-01"]
    mondays = days[days.dayofweek == 0]
    return pd.DataFrame({"date": [*days, *mondays], "symbol": ["IBM"] * len(days) + ["MSFT"] * len(mondays)})


def _upto(frame: pd.DataFrame, last: pd.Timestamp) -> pd.DataFrame:
    return frame[frame["date"] <= last].reset_index(drop=True)


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_truncating_the_bars_after_d_changes_nothing_up_to_the_session_after_d(cutoff):
    bars, full = _bars(), _full()
    cut = bars[bars["date"] <= cutoff]
    part = discover(cut, SETTINGS, holdings=_holdings(bars))
    following = calendar.next_session(cutoff)  # its universe is decided at the close of the cutoff
    assert part.universe["date"].max() == following
    for name in ("features", "universe", "picks", "watchlist"):
        pd.testing.assert_frame_equal(_upto(getattr(part, name), following), _upto(getattr(full, name), following))
    assert len(_upto(full.watchlist, following)) > 0 and full.watchlist["rank"].max() == 2


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_forward_returns_known_at_d_are_those_of_the_full_data_and_the_rest_are_empty(cutoff):
    bars, found = _bars(), _full()
    suggestions = _upto(found.suggestions(), pd.Timestamp(cutoff))
    full = forward_returns(suggestions, bars, found.universe)
    part = forward_returns(suggestions, bars[bars["date"] <= cutoff], found.universe)
    days = calendar.sessions(suggestions["date"].min(), calendar.session_offset(cutoff, max(HORIZONS)))
    unknown = 0
    for h in HORIZONS:
        # The session h after each suggestion's, looked up in the calendar's list of sessions.
        known = days[days.searchsorted(suggestions["date"]) + h] <= pd.Timestamp(cutoff)
        for column in (f"return_{h}", f"universe_return_{h}"):
            assert part[column][~known].isna().all(), column
            np.testing.assert_array_equal(part[column][known], full[column][known])
        unknown += (~known).sum()
    assert unknown > 0  # the test saw returns not yet known at D


def test_the_picker_report_has_every_picker_and_horizon():
    report = picker_report(_bars(), SETTINGS, holdings=_holdings(_bars()))
    assert sorted(report["picker"].unique()) == sorted([ENSEMBLE, "fuzzy", "llm", "metric"])
    assert sorted(report["horizon"].unique()) == sorted(HORIZONS)
    ensemble = report[report["picker"] == ENSEMBLE]
    assert (ensemble["suggestions"] == len(_full().watchlist)).all()
    assert report["hit_rate"].between(0, 1).all() and (report["scored"] <= report["suggestions"]).all()
