"""Scoring: forward returns close to close over sessions, never filled before the bar exists, against the
equal-weight universe; the per-picker summary by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.discovery.scoring import SUMMARY_COLUMNS, forward_returns, picker_summary
from trading_pipeline_tests.domain.discovery.panels import bars, sessions

CLOSES = {
    "A": [100.0 + 2 * k for k in range(30)],
    "B": [50.0 + k % 3 for k in range(30)],
    "C": [20.0 * 1.01**k for k in range(30)],
}
DAYS = sessions(30)


def _universe(panel: pd.DataFrame, excluded: str = "C") -> pd.DataFrame:
    """Every (session, symbol) eligible but ``excluded``."""
    rows = panel[["date", "symbol"]].drop_duplicates()
    return rows.assign(eligible=rows["symbol"] != excluded)


def _by_hand(symbol: str, day: int, h: int, closes: dict[str, list[float]] = CLOSES) -> float:
    return closes[symbol][day + h] / closes[symbol][day] - 1.0


def test_forward_returns_run_close_to_close_over_sessions_against_the_eligible_universe():
    panel = bars(CLOSES)
    suggestions = pd.DataFrame({"date": DAYS[[3, 3, 12]], "symbol": ["A", "C", "B"], "picker": "x"})
    scored = forward_returns(suggestions, panel, _universe(panel))
    np.testing.assert_allclose(scored["return_1"], [_by_hand("A", 3, 1), _by_hand("C", 3, 1), _by_hand("B", 12, 1)])
    np.testing.assert_allclose(scored["return_5"], [_by_hand("A", 3, 5), _by_hand("C", 3, 5), _by_hand("B", 12, 5)])
    # B on DAYS[12] has no bar 20 sessions later yet (the panel ends on DAYS[29]).
    np.testing.assert_allclose(scored["return_20"], [_by_hand("A", 3, 20), _by_hand("C", 3, 20), np.nan])
    # The universe is A and B (C is not eligible), equally weighted, over the same window.
    universe_5 = [(_by_hand("A", d, 5) + _by_hand("B", d, 5)) / 2 for d in (3, 3, 12)]
    np.testing.assert_allclose(scored["universe_return_5"], universe_5)
    assert scored["picker"].tolist() == ["x", "x", "x"]


def test_forward_returns_are_never_filled_before_the_bar_of_d_plus_h_exists():
    suggestion = pd.DataFrame({"date": [DAYS[3]], "symbol": ["A"]})
    columns = ["return_1", "return_5", "return_20", "universe_return_1", "universe_return_5", "universe_return_20"]
    for last in range(3, 30):  # the panel as it stood at the close of DAYS[last]
        panel = bars({s: c[: last + 1] for s, c in CLOSES.items()})
        scored = forward_returns(suggestion, panel, _universe(panel)).iloc[0]
        for h in (1, 5, 20):
            known = 3 + h <= last
            assert np.isfinite(scored[f"return_{h}"]) == known, (last, h)
            assert np.isfinite(scored[f"universe_return_{h}"]) == known, (last, h)
            if known:
                assert scored[f"return_{h}"] == pytest.approx(_by_hand("A", 3, h))
    assert set(columns) <= set(scored.index)


def test_a_missing_or_quarantined_later_bar_leaves_the_return_empty():
    gap = dict(CLOSES, A=[*CLOSES["A"][:8], np.nan, *CLOSES["A"][9:]])
    panel = bars(gap, quarantined={"B": [8]})
    suggestions = pd.DataFrame({"date": [DAYS[3], DAYS[3], DAYS[3], DAYS[29]], "symbol": ["A", "B", "C", "A"]})
    scored = forward_returns(suggestions, panel, _universe(panel, excluded=""))
    assert np.isnan(scored["return_5"][:2]).all() and np.isfinite(scored["return_5"][2])
    assert scored["universe_return_5"][0] == pytest.approx(_by_hand("C", 3, 5))  # the only one with a return
    assert np.isnan(scored["return_1"][3])  # the last session has no later bar yet
    with pytest.raises(ValueError, match="horizons"):
        forward_returns(suggestions, panel, _universe(panel), horizons=(0,))


def test_the_summary_counts_hits_excess_and_trades_per_picker():
    scored = pd.DataFrame(
        {
            "date": DAYS[[0, 0, 1, 1, 2]],
            "symbol": ["A", "B", "A", "C", "B"],
            "picker": ["fuzzy", "fuzzy", "fuzzy", "metric", "metric"],
            "return_1": [0.02, -0.01, 0.005, np.nan, 0.03],
            "universe_return_1": [0.01, 0.0, 0.01, 0.0, 0.01],
        }
    )
    traded = pd.DataFrame({"date": DAYS[[0, 2]], "symbol": ["A", "B"]})
    summary = picker_summary(scored, traded, horizons=(1,)).set_index("picker")
    assert list(summary.reset_index().columns) == SUMMARY_COLUMNS
    # fuzzy: excess +1%, -1%, -0.5%: one hit of three; metric: C is not scored yet, B beats by 2%.
    assert summary.loc["fuzzy", "scored"] == 3 and summary.loc["metric", "scored"] == 1
    assert summary.loc["fuzzy", "hit_rate"] == pytest.approx(1 / 3)
    assert summary.loc["fuzzy", "mean_excess"] == pytest.approx((0.01 - 0.01 - 0.005) / 3)
    assert summary.loc["metric", "hit_rate"] == 1.0 and summary.loc["metric", "mean_excess"] == pytest.approx(0.02)
    assert summary.loc["fuzzy", "trade_rate"] == pytest.approx(1 / 3)
    assert summary.loc["metric", "trade_rate"] == pytest.approx(1 / 2)
    assert picker_summary(scored, horizons=(1,))["trade_rate"].isna().all()
