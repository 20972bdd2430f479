"""Quant validation: point-in-time track records, VIF against an independent regression, and confidence
that only ever goes down, with every adjustment's value and limit in the reason."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.context import market_context
from trading_pipeline.domain.indicators import compute_indicators
from trading_pipeline.domain.selection import select_strategies
from trading_pipeline.domain.strategies import REGISTRY, Strategy, generate_signals
from trading_pipeline.domain.strategies.base import atr_signals
from trading_pipeline.domain.validation import (
    VIF_FEATURES,
    ValidationThresholds,
    rolling_vif,
    signals_with_track_record,
    track_record,
    validate_signals,
)
from trading_pipeline_tests.domain.test_indicators import wiki_bars


class Scripted(Strategy):
    """A test strategy that BUYs and SELLs on given bar numbers of every symbol."""

    name: ClassVar[str] = "Scripted"
    min_history: ClassVar[int] = 1

    def __init__(self, buys: set[int], sells: set[int]) -> None:
        self.buys, self.sells = buys, sells

    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        bar = panel.groupby("symbol").cumcount()
        reason = pd.Series("scripted", index=panel.index)
        return atr_signals(panel, bar.isin(self.buys), bar.isin(self.sells), pd.Series(1.0, index=panel.index), reason)


def _panel(closes: list[float]) -> pd.DataFrame:
    n = len(closes)
    return pd.DataFrame(
        {
            "date": pd.bdate_range("2020-01-01", periods=n),
            "symbol": "X",
            "close": closes,
            "atr14": 1.0,
            "history": np.arange(1, n + 1),
        }
    )


def test_track_record_of_a_hand_built_path() -> None:
    """BUY at bar 1 (100), SELL at bar 3 (121): +21%; BUY at 4 (121), SELL at 6 (108.9): -10%."""
    panel = _panel([90.0, 100.0, 110.0, 121.0, 121.0, 99.0, 108.9, 108.9])
    record = track_record(panel, Scripted(buys={1, 4}, sells={3, 6}).generate(panel)["action"], window=20)
    assert record["trades"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert record["expectancy"].iloc[3] == pytest.approx(0.21)
    assert record["expectancy"].iloc[6] == pytest.approx((0.21 - 0.10) / 2)
    # Equity 1 → 1.1 → 1.21 (flat) → 0.99 → 1.089: deepest drop below the running peak is 1 - 0.99/1.21.
    assert record["max_drawdown"].iloc[-1] == pytest.approx(1 - 0.99 / 1.21)
    assert record["max_drawdown"].iloc[4] == 0.0
    returns = np.array([0, 0, 0.1, 0.1, 0, 99 / 121 - 1, 0.1, 0])
    window = returns[:8]
    assert record["sharpe"].iloc[-1] == pytest.approx(window.mean() / window.std(ddof=1) * np.sqrt(252))


def test_track_record_window_forgets_old_trades() -> None:
    panel = _panel([100.0, 100.0, 110.0] + [110.0] * 30)
    record = track_record(panel, Scripted(buys={1}, sells={2}).generate(panel)["action"], window=20)
    assert record["trades"].iloc[2] == 1 and record["trades"].iloc[21] == 1
    assert record["trades"].iloc[22] == 0 and np.isnan(record["expectancy"].iloc[22])
    with pytest.raises(ValueError, match="at least 20"):
        track_record(panel, panel["symbol"].map(lambda _: "HOLD"), window=5)


def test_track_record_is_point_in_time() -> None:
    """Appending future bars never changes an earlier row's track record."""
    bars = wiki_bars(("AAPL", "IBM"))
    full = compute_indicators(bars)
    cut = pd.Timestamp("2008-06-30")
    early = compute_indicators(bars[bars["date"] <= cut])
    for name in ("TrendFollowing", "MeanReversion", "DualMomentum"):
        strategy = REGISTRY[name]
        a = track_record(full, strategy.generate(full)["action"], 252)[full["date"] <= cut].reset_index(drop=True)
        b = track_record(early, strategy.generate(early)["action"], 252)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def test_rolling_vif_matches_a_regression_per_feature() -> None:
    """VIF_j = 1 / (1 - R²) of feature j regressed on the others, pooled over the window."""
    context = market_context(compute_indicators(wiki_bars(("AAPL", "IBM", "MSFT", "GOOG"))))
    vif = rolling_vif(context, window=252)
    day = pd.Timestamp("2010-06-30")
    dates = np.sort(context["date"].unique())
    window_dates = dates[dates <= day][-252:]
    pooled = context[context["date"].isin(window_dates)][VIF_FEATURES].dropna().to_numpy()
    expected = []
    for j in range(len(VIF_FEATURES)):
        y, others = pooled[:, j], np.delete(pooled, j, axis=1)
        design = np.column_stack([np.ones(len(y)), others])
        fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
        r2 = 1 - ((y - fitted) ** 2).sum() / ((y - y.mean()) ** 2).sum()
        expected.append(1 / (1 - r2))
    assert vif.loc[day, "max_vif"] == pytest.approx(max(expected), rel=1e-6)
    assert vif.loc[day, "vif_feature"] == VIF_FEATURES[int(np.argmax(expected))]


def test_collinear_features_are_flagged() -> None:
    n = 300
    rng = np.random.default_rng(7)
    base = rng.normal(size=n)
    context = pd.DataFrame(
        {
            "date": pd.bdate_range("2020-01-01", periods=n),
            "symbol": "X",
            "trend_strength": base,
            "volatility_ratio": base * 2 + rng.normal(scale=0.01, size=n),
            "volume_ratio": rng.normal(size=n),
            "momentum": rng.normal(size=n),
        }
    )
    vif = rolling_vif(context, window=252)
    assert vif["max_vif"].iloc[-1] > 1000
    assert vif["max_vif"].iloc[:39].isna().all()  # fewer than 10 observations per feature


def _real_signals() -> tuple[pd.DataFrame, pd.DataFrame]:
    indicators = compute_indicators(wiki_bars(("AAPL", "IBM", "MSFT", "GOOG")))
    context = market_context(indicators)
    selection = select_strategies(context, list(REGISTRY))
    return signals_with_track_record(indicators, selection), context


def test_signals_carry_their_selected_strategys_record() -> None:
    """The metric columns of a row are the track record of the strategy selected on that row."""
    signals, context = _real_signals()
    indicators = compute_indicators(wiki_bars(("AAPL", "IBM", "MSFT", "GOOG")))
    plain = generate_signals(indicators, select_strategies(context, list(REGISTRY)))
    pd.testing.assert_frame_equal(signals[plain.columns], plain)
    rows = signals["strategy"] == "MeanReversion"
    expected = track_record(indicators, REGISTRY["MeanReversion"].generate(indicators)["action"], 252)
    np.testing.assert_allclose(signals.loc[rows, "sharpe"], expected.loc[rows, "sharpe"])
    assert (signals.loc[rows, "trades"] == expected.loc[rows, "trades"]).all()


def test_validation_only_lowers_entries_and_explains_each_cut() -> None:
    signals, context = _real_signals()
    out = validate_signals(signals, context)
    assert len(out) == len(signals)
    assert (out["confidence"] <= out["raw_confidence"] + 1e-12).all()
    exits = out["action"] != "BUY"
    assert (out.loc[exits, "confidence"] == out.loc[exits, "raw_confidence"]).all()
    assert (out.loc[exits, "validation"] == "").all()
    entries = out[~exits]
    lowered = entries[entries["confidence"] < entries["raw_confidence"]]
    assert len(lowered) > 0 and (lowered["validation"] != "").all()
    losing = entries[(entries["trades"] >= 3) & (entries["expectancy"] <= 0)]
    assert len(losing) > 0
    assert losing["validation"].str.contains(r"expectancy -?\d+\.\d+% <= 0.00% over \d+ trades").all()
    dd = entries[entries["max_drawdown"] > 0.08]
    assert dd["validation"].str.contains(r"max drawdown \d+\.\d+% > 8%").all()


def test_thresholds_are_configurable_and_scales_may_not_raise() -> None:
    signals, context = _real_signals()
    lenient = ValidationThresholds(
        expectancy_scale=1,
        negative_sharpe_scale=1,
        sharpe_scale=1,
        drawdown_scale=1,
        volatility_spike_scale=1,
        thin_volume_scale=1,
        vif_scale=1,
    )
    out = validate_signals(signals, context, lenient)
    assert (out["confidence"] == out["raw_confidence"]).all()
    strict = validate_signals(signals, context, ValidationThresholds(sharpe_target=100.0))
    default = validate_signals(signals, context)
    assert (strict["confidence"] <= default["confidence"] + 1e-12).all()
    with pytest.raises(ValueError, match="only lower"):
        ValidationThresholds(sharpe_scale=1.2)


def test_missing_metrics_or_context_are_errors() -> None:
    signals, context = _real_signals()
    with pytest.raises(ValueError, match="market context row"):
        validate_signals(signals, context[context["date"] < "2012-01-01"])
    with pytest.raises(ValueError, match="track-record columns"):
        validate_signals(signals.drop(columns=["sharpe"]), context)


@pytest.mark.parametrize("how", ["sum", "mean", "std", "max"])
def test_fast_rolling_equals_pandas_groupby_rolling(how: str) -> None:
    from trading_pipeline.domain.symbol_blocks import SymbolBlocks
    from trading_pipeline.domain.validation import _rolling_by_symbol

    rng = np.random.default_rng(3)
    symbol = pd.Series(np.repeat(["A", "B", "C"], [40, 7, 90]))
    series = pd.Series(rng.normal(size=len(symbol)))
    expected = getattr(series.groupby(symbol, sort=False).rolling(20, min_periods=5), how)().droplevel(0)
    actual = _rolling_by_symbol(series.to_numpy(), SymbolBlocks(symbol), 20, how, 5)
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12)
