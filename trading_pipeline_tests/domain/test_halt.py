"""The kill switch in the domain: a halted book sizes no buy, the verification refuses a halted buy, and a halt
cancels the simulator's pending entries and flattens the book at the next open."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from trading_pipeline.domain.book import Order, client_order_id, orders_to_frame
from trading_pipeline.domain.risk.halt import Halt, drop_entries, flatten_orders
from trading_pipeline.domain.risk.limits import RiskLimits
from trading_pipeline.domain.risk.sizing import size_orders
from trading_pipeline.domain.risk.verification import verify_not_halted, verify_orders
from trading_pipeline.domain.simulator import open_session
from trading_pipeline_tests.domain.test_risk import COSTS, D, frame, marked_book, signal

LIMITS = RiskLimits()
HALT = Halt(
    book="main", operator="risk-desk", reason="broker outage", halted_at=datetime(2024, 3, 1, 21, 0, tzinfo=UTC)
)


def test_a_halted_book_rejects_every_buy_with_who_and_why_and_still_sells():
    book = marked_book(50_000.0, {"HELD": (100.0, 20.0)})  # equity 52,000
    signals = frame(signal("AAA"), signal("BBB", confidence=0.4), signal("HELD", "SELL"))
    free, _ = size_orders(book, D, signals, LIMITS, COSTS)
    # Not halted: floor(52,000 × 0.02 × 0.5 / 3) = 173 and floor(52,000 × 0.02 × 0.4 / 3) = 138 shares.
    assert {(o.symbol, o.side, o.qty, o.halted) for o in free} == {
        ("HELD", "sell", 100.0, False),
        ("AAA", "buy", 173.0, False),
        ("BBB", "buy", 138.0, False),
    }

    orders, events = size_orders(book, D, signals, LIMITS, COSTS, halt=HALT)
    assert [(o.symbol, o.side, o.qty, o.halted) for o in orders] == [("HELD", "sell", 100.0, True)]
    assert [(e.symbol, e.rule, e.action, e.value, e.limit) for e in events] == [
        ("AAA", "halted", "rejected", None, None),
        ("BBB", "halted", "rejected", None, None),
    ]
    assert all("risk-desk" in e.message and "broker outage" in e.message for e in events)
    assert verify_orders(orders_to_frame(orders), LIMITS, COSTS).empty


def test_the_halt_is_named_before_the_breaker_and_the_daily_loss():
    book = replace(marked_book(100_000.0), breaker="drawdown", day_start_equity=120_000.0)
    _, events = size_orders(book, D, frame(signal("AAA")), LIMITS, COSTS, halt=HALT)
    assert [e.rule for e in events] == ["halted"]
    _, events = size_orders(book, D, frame(signal("AAA")), LIMITS, COSTS)
    assert [e.rule for e in events] == ["circuit_breaker"]


def test_not_halted_fails_exactly_the_buys_decided_while_halted():
    book = marked_book(50_000.0, {"HELD": (100.0, 20.0)})
    orders, _ = size_orders(book, D, frame(signal("AAA"), signal("BBB"), signal("HELD", "SELL")), LIMITS, COSTS)
    table = orders_to_frame(orders)
    assert verify_not_halted(table, LIMITS, COSTS).empty
    sells_halted = table.assign(halted=table["side"] == "sell")
    assert verify_not_halted(sells_halted, LIMITS, COSTS).empty  # a halted book still sells
    one_buy = table.assign(halted=table["symbol"] == "BBB")
    (row,) = verify_not_halted(one_buy, LIMITS, COSTS).itertuples()
    assert (row.symbol, row.rule, row.value, row.limit) == ("BBB", "not_halted", 1.0, 0.0)
    assert verify_orders(one_buy, LIMITS, COSTS)["rule"].tolist() == ["not_halted"]
    unknown = table.assign(halted=np.where(table["symbol"] == "AAA", np.nan, 0.0))
    assert verify_not_halted(unknown, LIMITS, COSTS)["symbol"].tolist() == ["AAA"]  # unverifiable: a breach


def _pending(book, symbol: str, side: str, qty: float) -> Order:
    return Order(
        client_order_id=client_order_id(book.book, D, symbol, side),
        book=book.book,
        session=D,
        symbol=symbol,
        side=side,
        qty=qty,
        ref_price=10.0,
        stop_price=7.0 if side == "buy" else None,
        atr=2.0,
        confidence=0.5,
        strategy="TrendFollowing",
        reason="test",
        equity_at_decision=book.equity,
        cash_at_decision=book.cash,
        position_qty_before=0.0,
        open_positions_before=len(book.positions),
    )


def test_dropping_the_entries_keeps_the_sells_and_names_each_cancelled_order():
    book = marked_book(10_000.0, {"HELD": (50.0, 20.0)})
    buy, sell = _pending(book, "AAA", "buy", 30.0), _pending(book, "HELD", "sell", 20.0)
    after, events = drop_entries(replace(book, pending=(buy, sell)))
    assert after.pending == (sell,) and after.positions == book.positions and after.cash == book.cash
    (event,) = events
    assert (event.session, event.symbol, event.rule, event.action, event.value) == (D, "AAA", "halted", "cancelled", 30)
    assert event.message.startswith(buy.client_order_id)


def test_flattening_sells_what_the_pending_sells_leave_at_the_next_open():
    book = marked_book(1_000.0, {"AAA": (100.0, 10.0), "HELD": (50.0, 20.0)})
    held_sell = _pending(book, "HELD", "sell", 20.0)
    book = replace(book, pending=(held_sell,))
    orders = flatten_orders(book)
    assert [(o.symbol, o.side, o.qty, o.order_type, o.ref_price, o.halted) for o in orders] == [
        ("AAA", "sell", 100.0, "market", 10.0, True),
        ("HELD", "sell", 30.0, "market", 20.0, True),
    ]
    assert [o.client_order_id for o in orders] == [
        client_order_id("main", D, s, "halt:flatten") for s in ("AAA", "HELD")
    ]
    assert flatten_orders(replace(book, pending=(*book.pending, *orders))) == []  # flattened already: nothing more
    assert flatten_orders(marked_book(5_000.0, session=None)) == []  # a book that never closed holds nothing

    opened, fills, _ = open_session(
        replace(book, pending=(*book.pending, *orders)), D + timedelta(days=3), {"AAA": 11.0, "HELD": 19.0}, COSTS
    )
    assert opened.positions == {} and opened.pending == ()
    # Each sell fills at the open less 5 bps of slippage, less max(1, 0.005 × qty) of commission.
    proceeds = 100 * 11.0 * 0.9995 - 1.0 + 20 * 19.0 * 0.9995 - 1.0 + 30 * 19.0 * 0.9995 - 1.0
    assert opened.cash == pytest.approx(1_000.0 + proceeds)
    assert sorted((f.symbol, f.qty) for f in fills) == [("AAA", 100.0), ("HELD", 20.0), ("HELD", 30.0)]
