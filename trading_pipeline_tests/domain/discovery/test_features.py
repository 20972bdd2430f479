"""discovery_features: every feature of session D recomputed by hand from the bars before D."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain import calendar
from trading_pipeline.domain.discovery.features import FEATURE_COLUMNS, discovery_features
from trading_pipeline_tests.domain.discovery.panels import bars, sessions


def _random_walk(n: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(50.0 * np.cumprod(1.0 + rng.normal(0.0, 0.02, n)))


def _by_hand(panel: pd.DataFrame) -> pd.DataFrame:
    """One row per bar, dated the session after it, from plain slices of the symbol's bars up to it."""
    rows = []
    for symbol, group in panel.groupby("symbol"):
        group = group.sort_values("date").reset_index(drop=True)
        for i in range(len(group)):
            upto = group.iloc[: i + 1]
            clean = upto[~upto["quarantined"]]
            c = clean["close"].to_numpy()
            last20 = clean.iloc[-20:]
            rows.append(
                {
                    "date": calendar.next_session(group["date"][i]),
                    "symbol": symbol,
                    "history": len(clean),
                    "close": c[-1] if len(c) else np.nan,
                    "dollar_volume": (last20["close"] * last20["volume"]).mean() if len(c) >= 20 else np.nan,
                    "spread": ((last20["high"] - last20["low"]) / last20["close"]).mean() if len(c) >= 20 else np.nan,
                    "volatility": np.std(c[-21:][1:] / c[-21:][:-1] - 1.0, ddof=1) if len(c) >= 21 else np.nan,
                    "momentum": c[-1] / c[-61] - 1.0 if len(c) >= 61 else np.nan,
                    "quarantined_share": upto["quarantined"].iloc[-20:].mean(),
                    "last_bar_clean": not group["quarantined"][i],
                }
            )
    return pd.DataFrame(rows)[FEATURE_COLUMNS]


def test_each_feature_of_a_session_comes_from_the_bars_before_it():
    gap = _random_walk(75, seed=2)
    gap[40] = np.nan  # B has no bar on its 41st session
    panel = bars({"A": _random_walk(90, seed=1), "B": gap}, quarantined={"A": [5, 30, 31, 70], "B": [0]})
    got = discovery_features(panel)
    expected = _by_hand(panel)
    pd.testing.assert_frame_equal(
        got.astype({"date": "datetime64[ns]"}), expected.astype({"date": "datetime64[ns]"}), rtol=1e-9
    )
    # No bar on D-1, no row on D: B skipped sessions()[40], so it cannot be chosen on sessions()[41].
    b_days = set(got.loc[got["symbol"] == "B", "date"])
    assert sessions(42)[41] not in b_days and sessions(42)[40] in b_days
    # A quarantined last bar shows, and the price features stay those of the last clean bar.
    after_bad = got[(got["symbol"] == "A") & (got["date"] == sessions(32)[31])].iloc[0]
    assert not after_bad["last_bar_clean"] and after_bad["close"] == panel["close"][29]


def test_the_last_bar_gives_the_row_of_the_next_session_across_a_holiday():
    panel = bars({"A": [10.0 + k for k in range(16)]}, start="2021-12-02")  # ends on 2021-12-23
    assert panel["date"].max() == pd.Timestamp("2021-12-23")
    got = discovery_features(panel)
    assert got["date"].max() == pd.Timestamp("2021-12-27")  # Friday the 24th was a holiday
    assert got["date"].min() == pd.Timestamp("2021-12-03")
    assert got["date"].dtype == panel["date"].dtype


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.drop(columns="quarantined"), "lack column"),
        (lambda b: pd.concat([b, b.iloc[[3]]]), "repeat"),
        (lambda b: b.assign(close=b["close"].where(b.index != 4, np.nan)), "validate the bars first"),
        (lambda b: b.assign(quarantined=b["quarantined"].astype("int64")), "must be boolean"),
    ],
)
def test_bars_features_cannot_be_built_on_are_refused_with_a_clear_error(change, message):
    with pytest.raises(ValueError, match=message):
        discovery_features(change(bars({"A": [10.0, 11.0, 12.0, 13.0, 14.0]})))
