"""The risk layer on real bars (/work/shared/data), through the domain engine: fast, and the dates are real."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.bars import load_bars_file, validate_bars
from trading_pipeline.domain.book import BookState, Position, orders_to_frame
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.engine import PricePanels, replay_decider, run_sessions, sizing_decider, track_risk_state
from trading_pipeline.domain.indicators import compute_indicators
from trading_pipeline.domain.risk.limits import RiskLimits
from trading_pipeline.domain.risk.verification import verify_orders
from trading_pipeline.domain.sectors import load_sector_map, sector_of
from trading_pipeline_tests.cycles import SHARED_DATA

COSTS = CostModel()
ETF_FILE = SHARED_DATA / "daily_etf64_2005-2017.csv.gz"
SP500_FILE = SHARED_DATA / "daily_sp500_2013-2018.csv.gz"
TECH = ["AAPL", "MSFT", "GOOGL", "INTC", "CSCO", "ORCL", "IBM", "QCOM", "TXN", "ADBE", "NVDA", "AVGO"]


def _indicators(path, symbols: list[str]) -> pd.DataFrame:
    bars = load_bars_file(path)
    return compute_indicators(validate_bars(bars[bars["symbol"].isin(symbols)].reset_index(drop=True)))


@pytest.fixture(scope="module")
def etf() -> pd.DataFrame:
    return _indicators(ETF_FILE, ["QLD", "SSO", "TLT", "GLD", "XLK"])


def sessions_between(ind: pd.DataFrame, after: str, through: str) -> list[date]:
    days = pd.DatetimeIndex(sorted(ind["date"].unique()))
    return [d.date() for d in days[(days > pd.Timestamp(after)) & (days <= pd.Timestamp(through))]]


def buy_signals(ind: pd.DataFrame, symbols: list[str], sessions: list[date], confidence: float = 1.0) -> pd.DataFrame:
    """A BUY for each symbol every session, with the real close and ATR14 of that session."""
    rows = ind[ind["symbol"].isin(symbols) & ind["date"].isin(pd.to_datetime(sessions))]
    return rows.assign(
        strategy="test", action="BUY", confidence=confidence, stop=np.nan, target=np.nan, reason="always long"
    )


def held_book(ind: pd.DataFrame, day: str, weights: dict[str, float], capital: float = 100_000.0) -> BookState:
    """A book holding ``weights`` of ``capital`` bought at ``day``'s close, without protective stops."""
    closes = ind[ind["date"] == pd.Timestamp(day)].set_index("symbol")["close"]
    positions, cash = {}, capital
    for symbol, weight in weights.items():
        qty = float(int(capital * weight / closes[symbol]))
        price = float(closes[symbol])
        positions[symbol] = Position(
            symbol=symbol, qty=qty, avg_price=price, last_price=price, entry_session=date.fromisoformat(day), stop=None
        )
        cash -= qty * price
    equity = cash + sum(p.market_value for p in positions.values())
    return BookState(
        book="real",
        cash=cash,
        positions=positions,
        peak_equity=equity,
        last_session=date.fromisoformat(day),
        equity=equity,
    )


def run(book, ind, sessions, signals, limits):
    prices = PricePanels.from_bars(ind, sessions)
    return prices, run_sessions(book, sessions, prices, sizing_decider(signals, limits, COSTS), COSTS, limits)


def test_leveraged_book_trips_the_breaker_2008_01_17_and_2008_06_11_and_resumes_2008_05_15_and_2012_03_01(etf):
    """80% in 2x leveraged ETFs (QLD, SSO) from the 2007-10-01 close, with a BUY for TLT and GLD every session.

    The drawdown breaker trips on 2008-01-17 (−22.3% from the peak), resumes on 2008-05-15 back within 15%,
    trips again on 2008-06-11 and only resumes on 2012-03-01 when the leveraged sleeve has recovered; in
    between every new buy is rejected while the held positions ride through 2008.
    """
    limits = RiskLimits()
    start = held_book(etf, "2007-10-01", {"QLD": 0.4, "SSO": 0.4})
    sessions = sessions_between(etf, "2007-10-01", "2012-06-29")
    prices, results = run(start, etf, sessions, buy_signals(etf, ["TLT", "GLD"], sessions), limits)

    changes = [(r.session, e.message.split(":")[0]) for r in results for e in r.events if e.rule == "circuit_breaker"]
    changes = [c for c in changes if c[1] in ("tripped", "resumed")]
    assert changes[:4] == [
        (date(2008, 1, 17), "tripped"),
        (date(2008, 5, 15), "resumed"),
        (date(2008, 6, 11), "tripped"),
        (date(2012, 3, 1), "resumed"),
    ]
    by_day = {r.session: r for r in results}
    first_trip = next(e for e in by_day[date(2008, 1, 17)].events if e.action == "info")
    assert first_trip.value == pytest.approx(-0.223, abs=5e-4) and first_trip.limit == -0.20
    tripped = [r for r in results if date(2008, 6, 11) <= r.session < date(2012, 3, 1)]
    assert all(r.state.breaker == "drawdown" for r in tripped)
    assert not any(o.side == "buy" for r in tripped for o in r.orders)
    rejected = [e for r in tripped for e in r.events if e.action == "rejected"]
    assert rejected and {e.rule for e in rejected} == {"circuit_breaker"}
    assert all(set(r.state.positions) >= {"QLD", "SSO"} for r in tripped)  # nothing is force-sold
    after = [o for r in results if r.session >= date(2012, 3, 1) for o in r.orders if o.side == "buy"]
    assert after, "new risk is taken again once the breaker has resumed"
    assert verify_orders(orders_to_frame(o for r in results for o in r.orders), limits, COSTS).empty

    approved = {r.session: list(r.orders) for r in results}
    replayed = track_risk_state(start, run_sessions(start, sessions, prices, replay_decider(approved), COSTS), limits)
    assert [r.state for r in replayed] == [r.state for r in results]  # the execution replay carries the same breaker


def test_a_gap_down_through_the_stop_fills_at_the_open_xlk_2008_01_22(etf):
    """XLK bought at the 2008-01-18 open (decided on the 17th, stop 1.5 × ATR below that close) opened on
    2008-01-22 (Fed emergency cut day) far below the stop: the exit fills at that open, not at the stop."""
    limits = RiskLimits(trailing_stop="none")
    sessions = sessions_between(etf, "2008-01-16", "2008-01-25")
    signals = buy_signals(etf, ["XLK"], sessions[:1])
    _, results = run(BookState.initial("real", 100_000.0), etf, sessions, signals, limits)
    by_day = {r.session: r for r in results}
    (buy,) = by_day[date(2008, 1, 17)].orders
    bar = etf[(etf["symbol"] == "XLK")].set_index("date")
    prev_close, gap_open = bar.loc["2008-01-18", "close"], bar.loc["2008-01-22", "open"]
    assert gap_open < buy.stop_price < prev_close  # a real gap through the stop
    assert bar.loc["2008-01-18", "low"] > buy.stop_price  # the position survived its first session
    (exit_order,) = by_day[date(2008, 1, 22)].exits
    (fill,) = [f for f in by_day[date(2008, 1, 22)].fills if f.client_order_id == exit_order.client_order_id]
    assert fill.price == pytest.approx(gap_open * (1 - COSTS.slippage_rate))
    assert fill.price < buy.stop_price * 0.95  # well below the stop: the gap is what the book really got
    assert (exit_order.order_type, exit_order.reason.split()[0]) == ("stop", "stop_loss")
    assert "XLK" not in by_day[date(2008, 1, 22)].state.positions


def test_the_daily_loss_limit_stops_new_risk_on_2008_09_29(etf):
    """70% in SSO at the 2008-09-26 close: SSO fell 13.8% on 2008-09-29 (the House rejected the bailout), the
    book lost more than 5% that day, so its BUYs are rejected at that close; the next day's are accepted."""
    limits = RiskLimits()
    start = held_book(etf, "2008-09-26", {"SSO": 0.7})
    sessions = sessions_between(etf, "2008-09-26", "2008-10-01")
    _, results = run(start, etf, sessions, buy_signals(etf, ["TLT", "GLD"], sessions, confidence=0.8), limits)
    crash, rebound = results[0], results[1]
    assert crash.session == date(2008, 9, 29)
    day_return = crash.state.equity / start.equity - 1
    assert day_return < -0.05 and crash.state.breaker is None
    assert crash.orders == ()
    assert {(e.symbol, e.rule, e.action) for e in crash.events} == {
        ("GLD", "daily_loss_limit", "rejected"),
        ("TLT", "daily_loss_limit", "rejected"),
    }
    assert all(e.value == pytest.approx(day_return) and e.limit == -0.05 for e in crash.events)
    assert rebound.session == date(2008, 9, 30) and {o.symbol for o in rebound.orders} == {"GLD", "TLT"}


def test_the_sector_cap_binds_on_a_tech_heavy_universe():
    """Twelve S&P 500 tech names and two others, a BUY for all of them every session of Q1 2014: Information
    Technology is capped at 30% of equity at every decision, while the other sectors still get filled."""
    ind = _indicators(SP500_FILE, [*TECH, "JNJ", "XOM"])
    limits = RiskLimits(risk_per_trade=0.01, max_position_pct=0.08)  # many small positions: the cap, not slots
    sessions = sessions_between(ind, "2014-01-02", "2014-03-31")
    start = BookState.initial("real", 100_000.0)
    _, results = run(start, ind, sessions, buy_signals(ind, [*TECH, "JNJ", "XOM"], sessions, 0.9), limits)
    sectors = load_sector_map()
    assert {sector_of(s, sectors) for s in TECH} == {"Information Technology"}

    clips = [e for r in results for e in r.events if e.rule == "sector_limit"]
    assert clips and {e.action for e in clips} <= {"clipped", "rejected"}
    assert all(e.value > e.limit for e in clips)
    orders = [o for r in results for o in r.orders if o.side == "buy"]
    tech_buys = [o for o in orders if o.sector == "Information Technology"]
    by_session: dict = {}
    for o in tech_buys:
        by_session.setdefault(o.session, []).append(o)
    for day_orders in by_session.values():
        committed = day_orders[0].sector_value_before + sum(o.qty * o.ref_price for o in day_orders)
        assert committed <= 0.30 * day_orders[0].equity_at_decision + 1e-6
    assert {o.symbol for o in orders} >= {"JNJ", "XOM"}
    assert verify_orders(orders_to_frame(o for r in results for o in r.orders), limits, COSTS).empty
    # without the cap the same run would have put far more into tech
    loose = limits.model_copy(update={"max_sector_pct": 1.0})
    _, uncapped = run(start, ind, sessions, buy_signals(ind, [*TECH, "JNJ", "XOM"], sessions, 0.9), loose)
    tech_value = lambda r: sum(p.market_value for s, p in r.state.positions.items() if s in TECH)  # noqa: E731
    assert max(tech_value(r) / r.state.equity for r in uncapped) > 0.5
    assert max(tech_value(r) / r.state.equity for r in results) < 0.36  # the cap, plus the drift of held names
