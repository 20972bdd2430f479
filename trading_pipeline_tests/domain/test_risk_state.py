"""Hand-built unit tests of the sector cap, the daily loss limit and the circuit breaker (trip, resume, reset)."""

from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
import pytest
from pydantic import ValidationError

from trading_pipeline.domain.book import BookState, Position, orders_to_frame
from trading_pipeline.domain.risk.breaker import reset_breaker, update_risk_state
from trading_pipeline.domain.risk.limits import RiskLimits
from trading_pipeline.domain.risk.sizing import size_orders
from trading_pipeline.domain.risk.verification import (
    verify_circuit_breaker,
    verify_daily_loss,
    verify_orders,
    verify_sector_limit,
)
from trading_pipeline.domain.sectors import load_sector_map, sector_of
from trading_pipeline_tests.domain.test_risk import COSTS, D, frame, marked_book, signal

LIMITS = RiskLimits()
SECTORS = {"AAA": "Tech", "BBB": "Tech", "CCC": "Tech", "HELD": "Tech", "UTL": "Utilities"}


def at_equity(book: BookState, equity: float, day_start: float | None = None) -> BookState:
    """The same book with its cash moved so that equity is ``equity``."""
    cash = book.cash + equity - book.equity
    return replace(book, cash=cash, equity=equity, day_start_equity=day_start)


# ---- sector cap ---------------------------------------------------------------------------------


def test_sector_cap_clips_the_last_buy_of_a_full_sector_and_counts_held_positions():
    book = marked_book(80_000.0, {"HELD": (1_000.0, 20.0)})  # 20,000 of Tech held; equity 100,000
    # each Tech buy is 333 × 10 = 3,330 (the per-trade risk), cap 30,000: room for 10,000 more
    signals = frame(*(signal(s, confidence=0.5) for s in ("AAA", "BBB", "CCC")), signal("UTL", confidence=0.5))
    limits = RiskLimits(risk_per_trade=0.04)  # 666 shares = 6,660 each
    orders, events = size_orders(book, D, signals, limits, COSTS, SECTORS)
    qty = {o.symbol: o.qty for o in orders}
    assert qty == {"AAA": 666.0, "BBB": 334.0, "UTL": 666.0}  # AAA 6,660 → BBB gets 3,340 → CCC nothing
    assert [(e.symbol, e.rule, e.action) for e in events] == [
        ("BBB", "sector_limit", "clipped"),
        ("CCC", "sector_limit", "rejected"),
    ]
    bbb = next(e for e in events if e.symbol == "BBB")
    assert (bbb.value, bbb.limit) == (pytest.approx(20_000 + 6_660 + 6_660), 30_000.0)
    tech = [o for o in orders if o.sector == "Tech"]
    assert all(o.sector_value_before == 20_000.0 for o in tech)
    assert verify_orders(orders_to_frame(orders), limits, COSTS).empty


def test_sector_check_sums_a_sessions_buys_per_sector():
    book = marked_book(100_000.0)
    orders, _ = size_orders(book, D, frame(signal("AAA"), signal("BBB")), LIMITS, COSTS, SECTORS)
    table = orders_to_frame(orders)
    assert verify_sector_limit(table, LIMITS, COSTS).empty
    tight = RiskLimits(max_sector_pct=0.05)  # 2 × 3,330 > 5,000, while each alone fits
    (row,) = verify_sector_limit(table, tight, COSTS).itertuples()
    assert (row.rule, row.value, row.limit) == ("sector_limit", pytest.approx(6_660.0), 5_000.0)
    assert row.message.startswith("Tech:") and pd.isna(row.symbol)


def test_an_unknown_symbol_is_its_own_sector():
    orders, events = size_orders(marked_book(100_000.0), D, frame(signal("ZZZZ")), LIMITS, COSTS, SECTORS)
    assert events == [] and orders[0].sector == "unknown:ZZZZ"


def test_bundled_sector_map():
    sectors = load_sector_map()
    assert len({s for s in sectors if "-" not in s}) == 569  # 505 S&P 500 names + 64 ETFs
    assert sector_of("AAPL", sectors) == sector_of("XLK", sectors) == "Information Technology"
    assert sector_of("BRK.B", sectors) == sector_of("BRK-B", sectors) == "Financials"
    assert sector_of("SPY", sectors) == "ETF: US equity broad" and sector_of("TLT", sectors) == "ETF: bonds"
    assert sector_of("NOPE", sectors) == "unknown:NOPE"


# ---- daily loss limit ---------------------------------------------------------------------------


def test_daily_loss_limit_rejects_new_risk_but_lets_exits_through():
    book = at_equity(marked_book(50_000.0, {"HELD": (1_000.0, 50.0)}), 100_000.0, day_start=106_000.0)  # −5.7%
    orders, events = size_orders(book, D, frame(signal("AAA"), signal("HELD", "SELL")), LIMITS, COSTS)
    assert [(o.side, o.symbol) for o in orders] == [("sell", "HELD")]
    (event,) = events
    assert (event.symbol, event.rule, event.action, event.limit) == ("AAA", "daily_loss_limit", "rejected", -0.05)
    assert event.value == pytest.approx(100 / 106 - 1)
    within = at_equity(book, 100_000.0, day_start=105_000.0)  # −4.8%: allowed
    orders, events = size_orders(within, D, frame(signal("AAA")), LIMITS, COSTS)
    assert [o.symbol for o in orders] == ["AAA"] and events == []
    assert orders[0].day_start_equity == 105_000.0
    assert verify_daily_loss(orders_to_frame(orders), LIMITS, COSTS).empty
    forged = orders_to_frame(orders).assign(day_start_equity=110_000.0)
    assert verify_daily_loss(forged, LIMITS, COSTS)["rule"].tolist() == ["daily_loss_limit"]


# ---- circuit breaker ----------------------------------------------------------------------------


def days(n: int) -> list[date]:
    return [D + timedelta(days=i) for i in range(n)]


def walk(book: BookState, equities: list[float], limits: RiskLimits = LIMITS, streaks: list[int] | None = None):
    """Mark the book at each equity (and losing streak) in turn and update the breaker; the states and events."""
    states, events = [], []
    for i, (session, equity) in enumerate(zip(days(len(equities)), equities, strict=True)):
        book = at_equity(book, equity)
        if streaks is not None:
            book = replace(book, losing_streak=streaks[i])
        book = replace(book, peak_equity=max(book.peak_equity, equity))
        book, new = update_risk_state(book, session, limits)
        states.append(book)
        events += new
    return states, events


def test_drawdown_trips_past_the_limit_and_resumes_back_within_the_resume_level():
    states, events = walk(marked_book(100_000.0), [100_000, 120_000, 97_000, 95_000, 99_000, 102_500, 103_000])
    assert [s.breaker for s in states] == [None, None, None, "drawdown", "drawdown", None, None]
    assert states[3].breaker_since == D + timedelta(days=3) and states[4].breaker_sessions == 1
    assert [e.message.split(":")[0] for e in events] == ["tripped", "resumed"]
    trip, resume = events
    assert (trip.rule, trip.action, trip.limit) == ("circuit_breaker", "info", -0.20)
    assert trip.value == pytest.approx(95 / 120 - 1) and resume.value == pytest.approx(102.5 / 120 - 1)


def test_drawdown_cooloff_resumes_and_rebases_the_peak():
    limits = RiskLimits(drawdown_cooloff_sessions=2)
    states, events = walk(marked_book(100_000.0), [100_000, 70_000, 70_000, 70_000, 66_000, 55_000], limits)
    assert [s.breaker for s in states] == [None, "drawdown", "drawdown", None, None, "drawdown"]
    assert states[3].risk_peak == 70_000 and states[3].peak_equity == 100_000  # the reported peak is kept
    assert "cool-off" in events[1].message


def test_losing_streak_trips_and_resumes_on_a_win_or_after_the_cooloff():
    limits = RiskLimits(max_losing_streak=3, streak_cooloff_sessions=2)
    states, _ = walk(marked_book(100_000.0), [100_000] * 5, limits, streaks=[1, 2, 3, 3, 0])
    assert [s.breaker for s in states] == [None, None, "losing_streak", "losing_streak", None]
    states, events = walk(marked_book(100_000.0), [100_000] * 6, limits, streaks=[3, 3, 3, 4, 5, 6])
    # tripped at 3; after 2 closes the streak of 3 is acknowledged; 3 more losses trip it again
    assert [s.breaker for s in states] == ["losing_streak", "losing_streak", None, None, None, "losing_streak"]
    assert states[2].streak_floor == 3 and "acknowledged" in events[1].message


def test_while_tripped_only_risk_reducing_orders_pass_and_the_check_agrees():
    book = replace(marked_book(50_000.0, {"HELD": (1_000.0, 50.0)}), breaker="drawdown", breaker_since=D)
    book = replace(book, risk_peak=130_000.0)
    orders, (event,) = size_orders(book, D, frame(signal("AAA"), signal("HELD", "SELL")), LIMITS, COSTS)
    assert [(o.side, o.breaker_tripped) for o in orders] == [("sell", True)]
    assert (event.rule, event.action, event.value) == ("circuit_breaker", "rejected", pytest.approx(100 / 130 - 1))
    fine, _ = size_orders(replace(book, breaker=None, risk_peak=None), D, frame(signal("AAA")), LIMITS, COSTS)
    table = orders_to_frame(fine)
    assert verify_circuit_breaker(table, LIMITS, COSTS).empty
    for forged in (
        table.assign(breaker_tripped=True),
        table.assign(risk_peak_at_decision=130_000.0),  # 23% down from the breaker's peak
        table.assign(losing_streak_before=10),
    ):
        assert verify_circuit_breaker(forged, LIMITS, COSTS)["rule"].tolist() == ["circuit_breaker"]


def test_manual_reset_clears_rebases_and_acknowledges():
    book = replace(marked_book(70_000.0), breaker="drawdown", breaker_since=D, risk_peak=100_000.0, losing_streak=4)
    reset, event = reset_breaker(book, D, "ops@desk", "reviewed the book")
    assert (reset.breaker, reset.breaker_since, reset.risk_peak, reset.streak_floor) == (None, None, 70_000.0, 4)
    assert (event.rule, event.action) == ("circuit_breaker", "info")
    assert "ops@desk" in event.message and "was drawdown" in event.message
    after, events = update_risk_state(reset, D + timedelta(days=1), LIMITS)
    assert after.breaker is None and events == []  # does not re-trip on the old peak
    with pytest.raises(ValueError, match="operator"):
        reset_breaker(book, D, " ", "x")


def test_limits_validate_the_resume_level():
    with pytest.raises(ValidationError, match="resume_drawdown"):
        RiskLimits(max_drawdown=0.10, resume_drawdown=0.15)


def test_states_journaled_before_the_risk_fields_still_load():
    old = {
        "book": "main",
        "cash": 500.0,
        "positions": {
            "AAA": {
                "symbol": "AAA",
                "qty": 10.0,
                "avg_price": 50.0,
                "last_price": 50.0,
                "entry_session": "2024-01-02",
                "stop": 45.0,
            }
        },
        "pending": [],
        "peak_equity": 1_000.0,
        "last_session": "2024-01-03",
        "equity": 1_000.0,
    }
    book = BookState.from_dict(old)
    assert (book.breaker, book.losing_streak, book.risk_peak, book.day_start_equity) == (None, 0, None, None)
    position = book.positions["AAA"]
    assert (position.target, position.high_water, position.sessions_held) == (None, None, 0)
    assert position.protective_stop() == (45.0, "stop_loss")
    tripped = replace(book, breaker="losing_streak", breaker_since=date(2024, 1, 3), losing_streak=10)
    assert BookState.from_dict(tripped.to_dict()) == tripped
    assert Position.from_dict(position.to_dict()) == position
