"""The eight strategies beyond TrendFollowing/MeanReversion: known signals on hand-built price paths
(run through compute_indicators), tie cases, the minimum-history rule, and no look-ahead on the real
5-stock data (the cross-sectional rules included)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.indicators import compute_indicators
from trading_pipeline.domain.schema import Action
from trading_pipeline.domain.strategies import REGISTRY
from trading_pipeline.domain.strategies.base import Strategy
from trading_pipeline.domain.strategies.bollinger_bands import BollingerBands
from trading_pipeline.domain.strategies.breakout import Breakout
from trading_pipeline.domain.strategies.dual_momentum import DualMomentum
from trading_pipeline.domain.strategies.momentum_rotation import MomentumRotation
from trading_pipeline.domain.strategies.moving_average_envelope import MovingAverageEnvelope
from trading_pipeline.domain.strategies.relative_strength import RelativeStrength
from trading_pipeline.domain.strategies.sector_rotation import SectorRotation
from trading_pipeline.domain.strategies.volatility_breakout import VolatilityBreakout
from trading_pipeline_tests.domain.test_indicators import wiki_bars
from trading_pipeline_tests.domain.test_strategies import _assert_well_formed, _bars, _panel

BUY, SELL, HOLD = Action.BUY.value, Action.SELL.value, Action.HOLD.value
FIVE_STOCKS = ("AAPL", "IBM", "MSFT", "GOOG", "FB")
SECTORS = {"AAPL": "hardware", "IBM": "hardware", "MSFT": "software", "GOOG": "internet", "FB": "internet"}


def _linear_bars(slopes: dict[str, float], n: int = 130) -> pd.DataFrame:
    """One symbol per slope: close = 100 + slope·k on bar k, so roc126 on bar 126 is 1.26·slope."""
    return pd.concat(
        [_bars(100.0 + slope * np.arange(n), symbol) for symbol, slope in slopes.items()], ignore_index=True
    )


def _actions(signals: pd.DataFrame, panel: pd.DataFrame, row: int = 126) -> dict[str, str]:
    """Action per symbol on bar ``row`` of each symbol."""
    at = panel.index[panel["history"] == row + 1]
    return dict(zip(panel.loc[at, "symbol"], signals.loc[at, "action"], strict=True))


def _assert_min_history(signals: pd.DataFrame, panel: pd.DataFrame, min_history: int) -> None:
    young = panel["history"] < min_history
    assert young.any()
    assert signals.loc[young, "action"].eq(HOLD).all()
    assert (signals.loc[young, "confidence"] == 0).all()
    assert (
        signals.loc[young, "reason"]
        == "insufficient history: " + panel.loc[young, "history"].astype(str) + f" < {min_history} bars"
    ).all()


def _signal_rows(signals: pd.DataFrame) -> dict[int, str]:
    hits = signals[signals["action"] != HOLD]
    return dict(zip(hits.index, hits["action"], strict=True))


# --- MomentumRotation -------------------------------------------------------------------------


def test_momentum_rotation_top_and_bottom_quintile() -> None:
    panel = compute_indicators(_linear_bars({"A": 0.4, "B": 0.2, "C": 0.0, "D": -0.1, "E": -0.3}))
    signals = MomentumRotation().generate(panel)
    _assert_well_formed(signals, panel)
    _assert_min_history(signals, panel, 126)
    assert _actions(signals, panel) == {"A": BUY, "B": HOLD, "C": HOLD, "D": HOLD, "E": SELL}
    assert signals["action"][panel["history"] < 127].eq(HOLD).all()  # roc126 undefined on bar 125
    a = panel.index[(panel["symbol"] == "A") & (panel["history"] == 127)][0]
    assert signals.loc[a, "reason"] == "roc126=+50.4% ranked 1/5 (top quintile)"
    assert signals.loc[a, "confidence"] == 1.0  # |roc126| 0.504 >= 0.5: full confidence


def test_momentum_rotation_needs_five_ranked_symbols() -> None:
    panel = compute_indicators(_linear_bars({"A": 0.4, "B": 0.2, "D": -0.1, "E": -0.3}))
    signals = MomentumRotation().generate(panel)
    _assert_well_formed(signals, panel)
    assert signals["action"].eq(HOLD).all()
    old = panel["history"] >= 127
    assert signals.loc[old, "reason"].eq("only 4 symbols ranked by roc126 on this date (< 5)").all()


def test_momentum_rotation_ties_and_non_positive_top() -> None:
    # A and B tie for first: a tie across the quintile boundary is not a signal.
    panel = compute_indicators(_linear_bars({"A": 0.4, "B": 0.4, "C": 0.0, "D": -0.1, "E": -0.3}))
    assert _actions(MomentumRotation().generate(panel), panel) == {
        "A": HOLD,
        "B": HOLD,
        "C": HOLD,
        "D": HOLD,
        "E": SELL,
    }
    # The top symbol's roc126 is exactly 0: top quintile but no BUY.
    panel = compute_indicators(_linear_bars({"A": 0.0, "B": -0.05, "C": -0.1, "D": -0.2, "E": -0.3}))
    signals = MomentumRotation().generate(panel)
    assert _actions(signals, panel) == {"A": HOLD, "B": HOLD, "C": HOLD, "D": HOLD, "E": SELL}
    a = panel.index[(panel["symbol"] == "A") & (panel["history"] == 127)][0]
    assert signals.loc[a, "reason"].endswith("top quintile but roc126 <= 0")


# --- Breakout ---------------------------------------------------------------------------------


def test_breakout_on_a_flat_path() -> None:
    """Flat at 100 (high 100.5, low 99.5): the previous-20-bar channel is [99.5, 100.5]."""
    close = np.full(100, 100.0)
    close[30], close[55], close[80] = 101.0, 99.0, 100.5  # above, below, exactly on the channel high
    panel = compute_indicators(_bars(close))
    assert panel.loc[80, "donchian_high20"] == 100.5 and panel.loc[55, "donchian_low20"] == 99.5
    signals = Breakout().generate(panel)
    _assert_well_formed(signals, panel)
    _assert_min_history(signals, panel, 20)
    assert _signal_rows(signals) == {30: BUY, 55: SELL}  # 100.5 == channel high: no breakout
    assert signals.loc[30, "reason"] == "close 101.00 > donchian_high20 100.50"
    assert signals.loc[30, "stop"] == pytest.approx(101.0 - 1.5 * panel.loc[30, "atr14"])


def test_breakout_ties_on_a_hand_panel() -> None:
    rows = [{"close": c, "donchian_high20": 105.0, "donchian_low20": 95.0} for c in (105.0, 95.0, 105.01, 94.99)]
    signals = Breakout().generate(_panel({"A": rows}, history_from=20))
    assert signals["action"].tolist() == [HOLD, HOLD, BUY, SELL]


# --- VolatilityBreakout -----------------------------------------------------------------------


def test_volatility_breakout_on_flat_paths() -> None:
    """Flat at 100 with a 1-point range (atr14 = 1), then one event on bar 30 per symbol: a close of
    102 (true range 2.5 > 1.5: BUY), 98 (SELL), 101 (true range exactly 1.5: tie, HOLD), and an
    unchanged close with a 102/98 range (expansion without direction: HOLD)."""
    events = {"UP": 102.0, "DOWN": 98.0, "TIE": 101.0, "WIDE": 100.0}
    frames = []
    for symbol, event in events.items():
        close = np.full(32, 100.0)
        close[30] = event
        bars = _bars(close, symbol)
        if symbol == "WIDE":
            bars.loc[30, ["high", "low"]] = [102.0, 98.0]
        frames.append(bars)
    panel = compute_indicators(pd.concat(frames, ignore_index=True))
    assert (panel.loc[panel["history"] == 30, "atr14"] == 1.0).all()
    signals = VolatilityBreakout().generate(panel)
    _assert_well_formed(signals, panel)
    _assert_min_history(signals, panel, 20)
    assert _actions(signals, panel, row=30) == {"UP": BUY, "DOWN": SELL, "TIE": HOLD, "WIDE": HOLD}
    assert signals["action"][panel["history"] <= 30].eq(HOLD).all()
    up, wide = (panel.index[(panel["symbol"] == s) & (panel["history"] == 31)][0] for s in ("UP", "WIDE"))
    assert signals.loc[up, "reason"] == "true range 2.50 = 2.50 x previous atr14 > 1.5; close up"
    assert signals.loc[up, "confidence"] == pytest.approx(0.3 + 0.7 * 1.0 / 1.5)
    assert signals.loc[wide, "reason"] == "range expansion with an unchanged close"


# --- RelativeStrength -------------------------------------------------------------------------


def _rs_bars() -> pd.DataFrame:
    xyz = np.full(60, 100.0)
    xyz[55:57], xyz[57:] = 101.0, 99.0
    return pd.concat([_bars(np.full(60, 100.0), "SPY"), _bars(xyz, "XYZ")], ignore_index=True)


def test_relative_strength_crosses_against_spy() -> None:
    """Both flat (ratio exactly 1: no signal); XYZ up to 101 on bar 55 (ratio 1.0098: BUY), stays
    (no new cross), down to 99 on bar 57 (SELL)."""
    panel = compute_indicators(_rs_bars())
    signals = RelativeStrength().generate(panel)
    _assert_well_formed(signals, panel)
    _assert_min_history(signals, panel, 50)
    assert _signal_rows(signals) == {60 + 55: BUY, 60 + 57: SELL}
    assert signals.loc[115, "reason"] == "close/sma50 relative to SPY crossed above 1 (ratio 1.0098)"
    assert signals.loc[59, "reason"] == "the benchmark SPY itself"


def test_relative_strength_without_benchmark_holds() -> None:
    panel = compute_indicators(_rs_bars().query("symbol == 'XYZ'").reset_index(drop=True))
    signals = RelativeStrength().generate(panel)
    _assert_well_formed(signals, panel)
    assert signals["action"].eq(HOLD).all()
    old = panel["history"] >= 50
    assert signals.loc[old, "reason"].eq("benchmark SPY not in the universe").all()
    # The benchmark is a parameter.
    panel = compute_indicators(_rs_bars().replace({"symbol": {"SPY": "QQQ"}}))
    assert _signal_rows(RelativeStrength(benchmark="QQQ").generate(panel)) == {115: BUY, 117: SELL}
    assert RelativeStrength().generate(panel)["reason"].iloc[-1] == "benchmark SPY not in the universe"


# --- SectorRotation ---------------------------------------------------------------------------


def test_sector_rotation_with_a_sector_map() -> None:
    """tech = {A +50.4%, B -6.3%} mean +22%; energy = {C -12.6%, D -37.8%} mean -25%."""
    panel = compute_indicators(_linear_bars({"A": 0.4, "B": -0.05, "C": -0.1, "D": -0.3}))
    strategy = SectorRotation({"A": "tech", "B": "tech", "C": "energy", "D": "energy"})
    signals = strategy.generate(panel)
    _assert_well_formed(signals, panel)
    _assert_min_history(signals, panel, 126)
    assert _actions(signals, panel) == {"A": BUY, "B": HOLD, "C": SELL, "D": SELL}
    b = panel.index[(panel["symbol"] == "B") & (panel["history"] == 127)][0]
    assert signals.loc[b, "reason"].endswith("top sector but roc126 <= 0")
    # No map: every symbol is its own bucket "unknown:<SYMBOL>".
    signals = SectorRotation().generate(panel)
    assert _actions(signals, panel) == {"A": BUY, "B": HOLD, "C": HOLD, "D": SELL}
    a = panel.index[(panel["symbol"] == "A") & (panel["history"] == 127)][0]
    assert signals.loc[a, "reason"].startswith("sector unknown:A mean roc126 +50.4% among 4 sectors")


def test_sector_rotation_needs_two_sectors_and_ties_give_nothing() -> None:
    panel = compute_indicators(_linear_bars({"A": 0.4, "B": -0.1}))
    signals = SectorRotation({"A": "tech", "B": "tech"}).generate(panel)
    assert signals["action"].eq(HOLD).all()
    assert signals["reason"].iloc[-1] == "only 1 sectors with a momentum on this date (< 2)"
    # Two sectors with equal mean momentum: neither is strictly top or bottom.
    panel = compute_indicators(_linear_bars({"A": 0.4, "B": 0.1, "C": 0.1, "D": 0.4}))
    signals = SectorRotation({"A": "x", "B": "x", "C": "y", "D": "y"}).generate(panel)  # same roc126 pairs
    assert signals["action"].eq(HOLD).all()


# --- DualMomentum -----------------------------------------------------------------------------


def test_dual_momentum_absolute_and_relative() -> None:
    panel = compute_indicators(_linear_bars({"A": 0.4, "B": 0.1, "C": 0.0, "D": -0.2, "E": 0.2}))
    signals = DualMomentum().generate(panel)
    _assert_well_formed(signals, panel)
    _assert_min_history(signals, panel, 126)
    # median roc126 = B's +12.6%: B equals it (tie, HOLD); C is exactly 0 (HOLD); D < 0 (SELL).
    assert _actions(signals, panel) == {"A": BUY, "B": HOLD, "C": HOLD, "D": SELL, "E": BUY}
    c = panel.index[(panel["symbol"] == "C") & (panel["history"] == 127)][0]
    assert signals.loc[c, "reason"] == "roc126=+0.0%, median +12.6%: no absolute momentum"
    # A lone symbol is its own median: never a BUY.
    alone = compute_indicators(_linear_bars({"A": 0.4}))
    assert DualMomentum().generate(alone)["action"].eq(HOLD).all()


# --- MovingAverageEnvelope --------------------------------------------------------------------


def test_moving_average_envelope_crosses() -> None:
    """Flat at 100; bar 60 at 94 < 0.95·sma50 (94.886): BUY; staying at 94 is no new cross; bar 70 at
    106 > 1.05·sma50: SELL."""
    close = np.full(80, 100.0)
    close[60:62], close[70] = 94.0, 106.0
    panel = compute_indicators(_bars(close))
    signals = MovingAverageEnvelope().generate(panel)
    _assert_well_formed(signals, panel)
    _assert_min_history(signals, panel, 50)
    assert _signal_rows(signals) == {60: BUY, 70: SELL}
    assert signals.loc[60, "reason"] == "close 94.00 crossed below the sma50 -5% band 94.89"
    # A wider envelope (band width is a parameter) is not crossed by a 6% move.
    assert _signal_rows(MovingAverageEnvelope(band_width=0.07).generate(panel)) == {}


def test_moving_average_envelope_ties() -> None:
    """Bands 95 / 105 around sma50 100: a close on a band is neither a cross nor breaks a later one."""
    closes = [100.0, 95.0, 94.0, 100.0, 105.0, 106.0, 106.0, 94.0]
    panel = _panel({"A": [{"sma50": 100.0, "close": c} for c in closes]}, history_from=50)
    signals = MovingAverageEnvelope().generate(panel)
    assert signals["action"].tolist() == [HOLD, HOLD, BUY, HOLD, HOLD, SELL, HOLD, BUY]


# --- BollingerBands ---------------------------------------------------------------------------


def test_bollinger_bands_on_a_flat_path() -> None:
    """Flat at 100: the bands collapse onto the close (tie: HOLD). A jump to 110 is above the upper
    band (104.86): SELL; a drop to 90 below the lower: BUY."""
    close = np.full(60, 100.0)
    close[30], close[50] = 110.0, 90.0
    panel = compute_indicators(_bars(close))
    assert (panel.loc[19:29, "bb_lower"] == 100.0).all() and (panel.loc[19:29, "bb_upper"] == 100.0).all()
    signals = BollingerBands().generate(panel)
    _assert_well_formed(signals, panel)
    _assert_min_history(signals, panel, 20)
    assert signals.loc[:29, "action"].eq(HOLD).all()
    assert signals.loc[30, "action"] == SELL and signals.loc[50, "action"] == BUY
    assert signals.loc[30, "reason"] == "close 110.00 > bb_upper 104.86"
    rows = [{"close": c, "bb_lower": 95.0, "bb_upper": 105.0} for c in (95.0, 105.0, 94.0, 106.0)]
    assert BollingerBands().generate(_panel({"A": rows}, history_from=20))["action"].tolist() == [HOLD, HOLD, BUY, SELL]


# --- real 5-stock data: well-formed, no look-ahead --------------------------------------------


def _real_strategies() -> dict[str, Strategy]:
    """The registry plus parametrised variants that make the benchmark/sector rules fire on 5 stocks."""
    return {
        **REGISTRY,
        "RelativeStrength(IBM)": RelativeStrength(benchmark="IBM"),
        "SectorRotation(map)": SectorRotation(SECTORS),
    }


@pytest.fixture(scope="module")
def five_bars() -> pd.DataFrame:
    return wiki_bars(FIVE_STOCKS)


@pytest.fixture(scope="module")
def five_panel(five_bars: pd.DataFrame) -> pd.DataFrame:
    return compute_indicators(five_bars)


def test_five_stocks_signals_are_well_formed(five_panel: pd.DataFrame) -> None:
    for name, strategy in _real_strategies().items():
        signals = strategy.generate(five_panel)
        _assert_well_formed(signals, five_panel)
        if name == "RelativeStrength":  # no SPY in the data
            old = five_panel["history"] >= 50
            assert signals["action"].eq(HOLD).all()
            assert signals.loc[old, "reason"].eq("benchmark SPY not in the universe").all()
        elif name == "SectorRotation":  # the bundled map: all five are Information Technology
            assert signals["action"].eq(HOLD).all()
        else:
            assert (signals["action"] != HOLD).any(), name


def test_five_stocks_momentum_rotation_only_with_five_ranked(five_panel: pd.DataFrame) -> None:
    signals = MomentumRotation().generate(five_panel)
    ranked = five_panel["roc126"].notna().groupby(five_panel["date"]).transform("sum")
    assert signals.loc[ranked < 5, "action"].eq(HOLD).all()
    hits = signals["action"] != HOLD
    assert hits.any()
    # With 5 ranked symbols the quintiles are one symbol each: one BUY at most and one SELL per date.
    per_date = signals[hits].groupby(five_panel.loc[hits, "date"])["action"].agg(list)
    assert per_date.map(lambda a: a.count(SELL) == 1 and a.count(BUY) <= 1).all()


def test_five_stocks_sector_rotation_with_a_sector_map(five_panel: pd.DataFrame) -> None:
    signals = SectorRotation(SECTORS).generate(five_panel)
    frame = five_panel[["date", "symbol", "roc126"]].assign(sector=five_panel["symbol"].map(SECTORS))
    momentum = frame.groupby(["date", "sector"])["roc126"].transform("mean")
    frame = frame.assign(momentum=momentum, action=signals["action"])
    for date, day in frame[frame["action"] != HOLD].groupby("date"):
        sectors = frame[frame["date"] == date].dropna(subset=["momentum"]).drop_duplicates("sector")
        best, worst = sectors["momentum"].max(), sectors["momentum"].min()
        assert len(sectors) >= 2
        assert (day.loc[day["action"] == BUY, "momentum"] == best).all()
        assert (day.loc[day["action"] == BUY, "roc126"] > 0).all()
        assert (day.loc[day["action"] == SELL, "momentum"] == worst).all()
    # Both symbols of the hardware sector are bought or sold together whenever both have a roc126.
    hardware = frame[frame["sector"] == "hardware"].pivot(index="date", columns="symbol", values="action")
    sells = hardware.eq(SELL)
    assert (sells["AAPL"] == sells["IBM"]).all()


@pytest.mark.parametrize("cut", ["2000-09-29", "2004-09-01", "2008-09-15", "2012-11-20", "2012-12-14", "2013-02-01"])
def test_no_look_ahead_five_stocks(five_bars: pd.DataFrame, five_panel: pd.DataFrame, cut: str) -> None:
    """Signals up to D are identical whether computed on the data up to D or on the whole history:
    for the cross-sectional rules this confirms a date's ranking uses rows dated D and earlier only."""
    panel_cut = compute_indicators(five_bars[five_bars["date"] <= cut])
    keep = (five_panel["date"] <= cut).to_numpy()
    for name, strategy in _real_strategies().items():
        full = strategy.generate(five_panel)[keep].reset_index(drop=True)
        pd.testing.assert_frame_equal(strategy.generate(panel_cut), full, check_exact=True, obj=name)


def test_no_look_ahead_covers_cross_sectional_signals(five_panel: pd.DataFrame) -> None:
    """The late cuts above fall where MomentumRotation actually trades (FB ranked from Nov 2012)."""
    signals = MomentumRotation().generate(five_panel)
    dates = five_panel.loc[signals["action"] != HOLD, "date"]
    assert dates.min() <= pd.Timestamp("2012-12-14") and (dates <= "2013-02-01").sum() > 10


def test_ranks_by_date_equal_pandas_ranks_with_ties_and_nan() -> None:
    from trading_pipeline.domain.strategies.momentum_rotation import _ranks_by_date

    rng = np.random.default_rng(11)
    date = rng.integers(0, 6, 300)
    roc = rng.choice([-0.2, -0.0, 0.0, 0.1, 0.3, np.nan, 0.05], 300)
    roc = np.where(rng.random(300) < 0.3, rng.normal(size=300), roc)
    by_date = pd.Series(roc).groupby(date)
    count, from_top, from_bottom = _ranks_by_date(roc, date)
    np.testing.assert_array_equal(count, by_date.transform("count"))
    np.testing.assert_array_equal(from_top, by_date.rank(ascending=False, method="max").fillna(0))
    np.testing.assert_array_equal(from_bottom, by_date.rank(ascending=True, method="max").fillna(0))


def test_reasons_last_case_wins_and_texts_are_built_for_their_rows_only() -> None:
    from trading_pipeline.domain.strategies.base import join, number_text, reasons

    index = pd.RangeIndex(10, 16)
    values = np.array([1.234, 2.0, 3.5, 4.25, 5.0, 6.0])
    seen: list[list[int]] = []

    def text(rows: np.ndarray) -> object:
        seen.append(rows.tolist())
        return join("v=", number_text(values[rows], 1))

    out = reasons(
        index,
        "none",
        [
            (np.array([1, 1, 1, 0, 0, 0], dtype=bool), text),
            (np.array([0, 1, 0, 0, 1, 0], dtype=bool), "second"),
        ],
    )
    assert out.dtype == "str" and out.index.equals(index)
    assert out.tolist() == ["v=1.2", "second", "v=3.5", "none", "second", "none"]
    assert seen == [[0, 2]]


def test_generate_signals_ignores_selection_rows_outside_the_panel(five_panel: pd.DataFrame) -> None:
    from trading_pipeline.domain.strategies import generate_signals

    panel = five_panel.head(400)
    selection = pd.concat(
        [
            panel[["date", "symbol"]].assign(strategy="MeanReversion"),
            pd.DataFrame({"date": [pd.Timestamp("1990-01-02")], "symbol": ["AAPL"], "strategy": ["Breakout"]}),
            pd.DataFrame({"date": [panel["date"].iloc[0]], "symbol": ["ZZZZ"], "strategy": ["Breakout"]}),
        ],
        ignore_index=True,
    ).iloc[::-1]
    selection.loc[selection.index[-1], "strategy"] = None  # no strategy for the panel's first row
    out = generate_signals(panel, selection)
    expected = REGISTRY["MeanReversion"].generate(panel)
    assert pd.isna(out["strategy"].iloc[0]) and out["reason"].iloc[0] == "no strategy selected"
    assert (out["strategy"].iloc[1:] == "MeanReversion").all()
    np.testing.assert_array_equal(out["reason"].iloc[1:], expected["reason"].iloc[1:])
    np.testing.assert_array_equal(out["confidence"].iloc[1:], expected["confidence"].iloc[1:])
