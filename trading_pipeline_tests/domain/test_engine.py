import time
from dataclasses import replace
from datetime import date
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.book import BookState, fills_to_frame, orders_to_frame
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.engine import equity_curve, replay_decider, run_sessions, sizing_decider
from trading_pipeline.domain.metrics import round_trips
from trading_pipeline.domain.risk import RiskLimits, verify_orders
from trading_pipeline_tests.domain.test_risk import random_signals

COSTS = CostModel()
LIMITS = RiskLimits(max_open_positions=6)
CAPITAL = 250_000.0


def market(n_sessions: int, n_symbols: int, seed: int = 7) -> tuple[list[date], pd.DataFrame, pd.DataFrame]:
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
    return [d.date() for d in index], opens, closes


def signals_for(sessions: list[date], closes: pd.DataFrame, seed: int = 11) -> dict[date, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    out = {}
    for session, (_, row) in zip(sessions, closes.iterrows(), strict=True):
        frame = random_signals(rng, list(closes.columns), set(closes.columns))
        out[session] = frame.assign(close=row.to_numpy(), atr14=row.to_numpy() * rng.uniform(0.01, 0.05, len(row)))
    return out


@pytest.fixture(scope="module")
def backtest():
    sessions, opens, closes = market(120, 25)
    signals = signals_for(sessions, closes)
    start = BookState.initial("main", CAPITAL)
    results = run_sessions(start, sessions, opens, closes, sizing_decider(signals, LIMITS, COSTS), COSTS)
    return start, sessions, opens, closes, signals, results


def test_replay_of_approved_orders_reproduces_the_backtest(backtest):
    start, sessions, opens, closes, _, sized = backtest
    approved = {r.session: list(r.orders) for r in sized}
    replayed = run_sessions(start, sessions, opens, closes, replay_decider(approved), COSTS)
    assert [r.fills for r in replayed] == [r.fills for r in sized]
    assert [r.book for r in replayed] == [r.book for r in sized]
    assert equity_curve(replayed).equals(equity_curve(sized))
    assert sum(len(r.fills) for r in sized) > 50  # the run actually traded
    rules = {e.rule for r in sized for e in r.events}
    assert {"no_tradable_open", "max_open_positions", "min_confidence"} <= rules


def test_runs_are_deterministic(backtest):
    start, sessions, opens, closes, signals, sized = backtest
    again = run_sessions(start, sessions, opens, closes, sizing_decider(signals, LIMITS, COSTS), COSTS)
    assert again == sized
    assert [r.book.to_dict() for r in again] == [r.book.to_dict() for r in sized]


def test_live_one_session_at_a_time_equals_the_range(backtest):
    start, sessions, opens, closes, signals, sized = backtest
    book, stepped = start, []
    for session in sessions:
        (result,) = run_sessions(book, [session], opens, closes, sizing_decider(signals, LIMITS, COSTS), COSTS)
        book = BookState.from_dict(result.book.to_dict())  # state stored and reloaded between runs
        stepped.append(result)
    assert stepped == sized


def test_fills_only_use_the_next_open(backtest):
    _, sessions, opens, _, _, sized = backtest
    decided = {o.client_order_id: o.session for r in sized for o in r.orders}
    next_session = dict(pairwise(sessions))
    fills = [f for r in sized for f in r.fills]
    for fill in fills:
        assert fill.session == next_session[decided[fill.client_order_id]]
        raw = opens.loc[pd.Timestamp(fill.session), fill.symbol]
        assert fill.price == pytest.approx(raw * (1.0005 if fill.side == "buy" else 0.9995), rel=1e-12)
    cancelled = [e for r in sized for e in r.events if e.rule == "no_tradable_open"]
    assert cancelled and all(np.isnan(opens.loc[pd.Timestamp(e.session), e.symbol]) for e in cancelled)


def test_every_order_intent_is_accounted_for(backtest):
    _, _, _, _, _, sized = backtest
    filled = {f.client_order_id for r in sized for f in r.fills}
    cancelled = {e.message.split(":")[0] for r in sized for e in r.events if e.action == "cancelled"}
    last_pending = {o.client_order_id for o in sized[-1].book.pending}
    decided = {o.client_order_id for r in sized for o in r.orders}
    assert decided == filled | cancelled | last_pending
    assert not filled & cancelled


def test_accounting_identity(backtest):
    _, _, _, _, _, sized = backtest
    final = sized[-1].book
    fills = fills_to_frame([f for r in sized for f in r.fills])
    realized = round_trips(fills)["gross_pnl"].sum()
    unrealized = sum(p.qty * (p.last_price - p.avg_price) for p in final.positions.values())
    assert final.equity == pytest.approx(CAPITAL + realized + unrealized - fills["commission"].sum(), abs=1e-6)
    assert all(np.isfinite(r.book.equity) and r.book.cash >= -1e-9 for r in sized)
    assert final.peak_equity == max(CAPITAL, *(r.book.equity for r in sized))


def test_orders_of_the_run_verify(backtest):
    _, _, _, _, _, sized = backtest
    orders = orders_to_frame([o for r in sized for o in r.orders])
    assert verify_orders(orders, LIMITS, COSTS).empty


def test_session_validation(backtest):
    start, sessions, opens, closes, _, sized = backtest
    nothing = replay_decider({})
    with pytest.raises(ValueError, match="strictly increasing"):
        run_sessions(start, [sessions[1], sessions[0]], opens, closes, nothing, COSTS)
    with pytest.raises(ValueError, match="already closed"):
        run_sessions(sized[10].book, sessions[5:12], opens, closes, nothing, COSTS)
    with pytest.raises(ValueError, match="no row"):
        run_sessions(start, [date(2030, 1, 2)], opens, closes, nothing, COSTS)
    with pytest.raises(ValueError, match="another session"):
        replay_decider({sessions[0]: list(sized[1].orders)})
    bad = lambda book, session: (list(sized[1].orders), [])  # noqa: E731
    with pytest.raises(ValueError, match="another session"):
        run_sessions(start, sessions[:1], opens, closes, bad, COSTS)
    assert run_sessions(start, [], opens, closes, nothing, COSTS) == []


def test_pending_orders_carry_into_the_next_run(backtest):
    _, sessions, opens, closes, _, sized = backtest
    i = next(k for k, r in enumerate(sized[:-1]) if r.orders)
    book = sized[i].book
    (result,) = run_sessions(book, [sessions[i + 1]], opens, closes, replay_decider({}), COSTS)
    assert result.fills == sized[i + 1].fills and result.book.pending == ()
    assert replace(sized[i + 1].book, pending=()) == result.book


def test_trivial_decider_over_five_years_of_500_symbols_is_fast():
    sessions, opens, closes = market(1_259, 500, seed=3)
    start = time.perf_counter()
    results = run_sessions(BookState.initial("main", CAPITAL), sessions, opens, closes, replay_decider({}), COSTS)
    elapsed = time.perf_counter() - start
    assert len(results) == 1_259 and results[-1].book.equity == CAPITAL
    assert elapsed < 1.0, f"run_sessions took {elapsed:.3f}s"
