from dataclasses import replace
from datetime import date
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.book import BookState, fills_to_frame, orders_to_frame
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.engine import (
    PricePanels,
    equity_curve,
    replay_decider,
    run_sessions,
    sizing_decider,
    track_risk_state,
)
from trading_pipeline.domain.metrics import round_trips
from trading_pipeline.domain.risk.limits import RiskLimits
from trading_pipeline.domain.risk.verification import verify_orders
from trading_pipeline_tests.domain.test_risk import random_signals

COSTS = CostModel()
LIMITS = RiskLimits(max_open_positions=6)
CAPITAL = 250_000.0


def market(n_sessions: int, n_symbols: int, seed: int = 7) -> tuple[list[date], PricePanels]:
    """Random-walk closes, opens that gap from the previous close, ~2% of bars without a tradable open/close."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2021-01-04", periods=n_sessions)
    symbols = [f"S{i:03d}" for i in range(n_symbols)]
    closes = pd.DataFrame(
        50 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_sessions, n_symbols)), axis=0)), index=index, columns=symbols
    )
    opens = closes.shift(1).fillna(closes) * np.exp(rng.normal(0, 0.01, (n_sessions, n_symbols)))
    opens = opens.mask(rng.random(opens.shape) < 0.02)
    closes = closes.mask(rng.random(closes.shape) < 0.02)
    highs = np.fmax(opens, closes) * np.exp(np.abs(rng.normal(0, 0.005, opens.shape)))
    lows = np.fmin(opens, closes) * np.exp(-np.abs(rng.normal(0, 0.005, opens.shape)))
    return [d.date() for d in index], PricePanels(opens=opens, highs=highs, lows=lows, closes=closes)


def signals_for(sessions: list[date], closes: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = []
    for session, (_, row) in zip(sessions, closes.iterrows(), strict=True):
        frame = random_signals(rng, list(closes.columns), set(closes.columns))
        out.append(
            frame.assign(
                date=pd.Timestamp(session),
                close=row.to_numpy(),
                atr14=row.to_numpy() * rng.uniform(0.01, 0.05, len(row)),
            )
        )
    return pd.concat(out, ignore_index=True)


@pytest.fixture(scope="module")
def backtest():
    sessions, prices = market(120, 25)
    signals = signals_for(sessions, prices.closes)
    start = BookState.initial("main", CAPITAL)
    results = run_sessions(start, sessions, prices, sizing_decider(signals, LIMITS, COSTS), COSTS, LIMITS)
    return start, sessions, prices, signals, results


def test_replay_of_approved_orders_reproduces_the_backtest(backtest):
    start, sessions, prices, _, sized = backtest
    approved = {r.session: list(r.orders) for r in sized}
    replayed = track_risk_state(start, run_sessions(start, sessions, prices, replay_decider(approved), COSTS), LIMITS)
    assert [r.fills for r in replayed] == [r.fills for r in sized]
    assert [r.exits for r in replayed] == [r.exits for r in sized]
    assert [r.state for r in replayed] == [r.state for r in sized]
    assert equity_curve(replayed).equals(equity_curve(sized))
    assert sum(len(r.fills) for r in sized) > 50  # the run actually traded
    rules = {e.rule for r in sized for e in r.events}
    assert {"no_tradable_open", "max_open_positions", "min_confidence"} <= rules
    exits = {o.reason.split()[0].rstrip(",") for r in sized for o in r.exits}
    assert {"stop_loss", "trailing_stop"} <= exits  # the protective exits fire and replay identically


def test_runs_are_deterministic(backtest):
    start, sessions, prices, signals, sized = backtest
    again = run_sessions(start, sessions, prices, sizing_decider(signals, LIMITS, COSTS), COSTS, LIMITS)
    assert again == sized
    assert [r.state.to_dict() for r in again] == [r.state.to_dict() for r in sized]


def test_live_one_session_at_a_time_equals_the_range(backtest):
    start, sessions, prices, signals, sized = backtest
    book, stepped = start, []
    decide = sizing_decider(signals, LIMITS, COSTS)  # stateless: the same decider serves every run
    for session in sessions:
        (result,) = run_sessions(book, [session], prices, decide, COSTS, LIMITS)
        book = BookState.from_dict(result.state.to_dict())  # state stored and reloaded between runs
        stepped.append(result)
    assert stepped == sized


def test_fills_only_use_the_next_open(backtest):
    _, sessions, prices, _, sized = backtest
    decided = {o.client_order_id: o.session for r in sized for o in r.orders}
    next_session = dict(pairwise(sessions))
    fills = [f for r in sized for f in r.fills if f.client_order_id in decided]
    for fill in fills:
        assert fill.session == next_session[decided[fill.client_order_id]]
        day = pd.Timestamp(fill.session)
        raw = prices.opens.loc[day, fill.symbol]
        low, high = prices.lows.loc[day, fill.symbol], prices.highs.loc[day, fill.symbol]
        slipped = raw * (1.0005 if fill.side == "buy" else 0.9995)
        assert fill.price == pytest.approx(min(max(slipped, low), high), rel=1e-12)  # never outside the bar
    cancelled = [e for r in sized for e in r.events if e.rule == "no_tradable_open"]
    assert cancelled and all(np.isnan(prices.opens.loc[pd.Timestamp(e.session), e.symbol]) for e in cancelled)


def test_every_order_intent_is_accounted_for(backtest):
    _, _, _, _, sized = backtest
    exits = {o.client_order_id for r in sized for o in r.exits}
    filled = {f.client_order_id for r in sized for f in r.fills} - exits
    assert exits <= {f.client_order_id for r in sized for f in r.fills}  # every protective exit filled
    cancelled = {e.message.split(":")[0] for r in sized for e in r.events if e.action == "cancelled"}
    last_pending = {o.client_order_id for o in sized[-1].state.pending}
    decided = {o.client_order_id for r in sized for o in r.orders}
    assert decided == filled | cancelled | last_pending
    assert not filled & cancelled


def test_accounting_identity(backtest):
    _, _, _, _, sized = backtest
    final = sized[-1].state
    fills = fills_to_frame([f for r in sized for f in r.fills])
    realized = round_trips(fills)["gross_pnl"].sum()
    unrealized = sum(p.qty * (p.last_price - p.avg_price) for p in final.positions.values())
    assert final.equity == pytest.approx(CAPITAL + realized + unrealized - fills["commission"].sum(), abs=1e-6)
    assert all(np.isfinite(r.state.equity) and r.state.cash >= -1e-9 for r in sized)
    assert final.peak_equity == max(CAPITAL, *(r.state.equity for r in sized))


def test_orders_of_the_run_verify(backtest):
    _, _, _, _, sized = backtest
    orders = orders_to_frame([o for r in sized for o in r.orders])
    assert verify_orders(orders, LIMITS, COSTS).empty


def test_session_validation(backtest):
    start, sessions, prices, _, sized = backtest
    nothing = replay_decider({})
    with pytest.raises(ValueError, match="strictly increasing"):
        run_sessions(start, [sessions[1], sessions[0]], prices, nothing, COSTS)
    with pytest.raises(ValueError, match="already closed"):
        run_sessions(sized[10].state, sessions[5:12], prices, nothing, COSTS)
    with pytest.raises(ValueError, match="no row"):
        run_sessions(start, [date(2030, 1, 2)], prices, nothing, COSTS)
    with pytest.raises(ValueError, match="another session"):
        replay_decider({sessions[0]: list(sized[1].orders)})
    bad = lambda book, session: (list(sized[1].orders), [])  # noqa: E731
    with pytest.raises(ValueError, match="another session"):
        run_sessions(start, sessions[:1], prices, bad, COSTS)
    assert run_sessions(start, [], prices, nothing, COSTS) == []


def test_pending_orders_carry_into_the_next_run(backtest):
    _, sessions, prices, _, sized = backtest
    i = next(k for k, r in enumerate(sized[:-1]) if r.orders)
    book = sized[i].state
    (result,) = run_sessions(book, [sessions[i + 1]], prices, replay_decider({}), COSTS, LIMITS)
    assert result.fills == sized[i + 1].fills and result.state.pending == ()
    assert replace(sized[i + 1].state, pending=()) == result.state


def test_a_book_that_never_trades_keeps_its_capital_over_five_years_of_500_symbols():
    """(Its speed is measured by benchmarks/, not here.)"""
    sessions, prices = market(1_259, 500, seed=3)
    results = run_sessions(BookState.initial("main", CAPITAL), sessions, prices, replay_decider({}), COSTS)
    assert len(results) == 1_259 and all(r.state.equity == CAPITAL and not r.fills for r in results)


def test_price_panels_must_be_aligned_and_come_from_full_bars(backtest):
    _, sessions, prices, _, _ = backtest
    with pytest.raises(ValueError, match="lows is not aligned"):
        PricePanels(opens=prices.opens, highs=prices.highs, lows=prices.lows.iloc[:-1], closes=prices.closes)
    long = prices.opens.stack().rename("open").reset_index().rename(columns={"level_0": "date", "level_1": "symbol"})
    with pytest.raises(ValueError, match="missing columns"):
        PricePanels.from_bars(long, sessions)
    bars = long.assign(high=long["open"], low=long["open"], close=long["open"])
    panels = PricePanels.from_bars(bars, sessions[:5])
    assert panels.opens.shape == (5, prices.opens.shape[1]) and panels.closes.equals(panels.opens)
