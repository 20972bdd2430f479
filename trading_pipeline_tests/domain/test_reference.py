"""Our accounting against an independent engine written here, on the reference configuration:
fixed-fraction sizing of all equity in whole shares, next-open fills, a flat commission."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.indicators import compute_indicators
from trading_pipeline.domain.reference import reference_backtest
from trading_pipeline.domain.strategies import REGISTRY
from trading_pipeline_tests.domain.test_indicators import wiki_bars

CAPITAL, COMMISSION = 100_000.0, 4.95


def independent_engine(bars: pd.DataFrame, actions: pd.Series, fraction: float) -> tuple[list[float], list[tuple]]:
    """One symbol, all in / all out: a plain loop over the days, sharing no code with the project."""
    cash, shares, pending = CAPITAL, 0, None
    equity, trades = [], []
    for day, row, action in zip(bars["date"], bars.itertuples(index=False), actions, strict=True):
        if pending is not None:
            side, qty = pending
            if side == "buy":
                qty = min(qty, math.floor((cash - COMMISSION) / row.open))
                if qty > 0:
                    cash -= qty * row.open + COMMISSION
                    shares += qty
                    trades.append((day, "buy", qty, row.open))
            else:
                cash += shares * row.open - COMMISSION
                trades.append((day, "sell", shares, row.open))
                shares = 0
            pending = None
        value = cash + shares * row.close
        equity.append(value)
        if action == "BUY" and shares == 0:
            qty = math.floor((value * fraction - COMMISSION) / row.close)
            pending = ("buy", qty) if qty > 0 else None
        elif action == "SELL" and shares > 0:
            pending = ("sell", shares)
    return equity, trades


@pytest.mark.parametrize(
    ("symbol", "strategy", "fraction"),
    [("AAPL", "TrendFollowing", 1.0), ("IBM", "MeanReversion", 1.0), ("MSFT", "BollingerBands", 0.5)],
)
def test_equity_and_trades_match_an_independent_engine(symbol: str, strategy: str, fraction: float) -> None:
    bars = wiki_bars((symbol,))
    panel = compute_indicators(bars)
    actions = REGISTRY[strategy].generate(panel)["action"]
    sessions = [d.date() for d in panel["date"]]
    signals = panel[["date", "symbol", "close"]].assign(action=actions.to_numpy())

    equity, fills = reference_backtest(panel, signals, sessions, CAPITAL, fraction, COMMISSION)
    expected_equity, expected_trades = independent_engine(panel, actions, fraction)

    assert len(expected_trades) >= 6, "the comparison needs trades to mean anything"
    np.testing.assert_allclose(equity.to_numpy(), expected_equity, rtol=1e-12)
    ours = [(pd.Timestamp(f.session), f.side, int(f.qty), f.price) for f in fills.itertuples(index=False)]
    assert [(d, s, q) for d, s, q, _ in ours] == [(d, s, q) for d, s, q, _ in expected_trades]
    np.testing.assert_allclose([p for *_, p in ours], [p for *_, p in expected_trades], rtol=1e-12)
    assert (fills["commission"] == COMMISSION).all() and (fills["slippage"] == 0).all()


def test_bad_fraction_is_refused() -> None:
    bars = wiki_bars(("IBM",)).head(30)
    signals = bars[["date", "symbol", "close"]].assign(action="HOLD")
    with pytest.raises(ValueError, match="fraction"):
        reference_backtest(bars, signals, [d.date() for d in bars["date"]], fraction=1.5)
