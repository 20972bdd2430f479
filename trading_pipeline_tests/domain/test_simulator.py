from dataclasses import replace
from datetime import date

import pytest

from trading_pipeline.domain.book import BookState, Order, Position, client_order_id
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.simulator import close_session, open_session

D0, D1, D2 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)
COSTS = CostModel()


def order(symbol: str, side: str, qty: float, ref: float = 50.0, session: date = D0) -> Order:
    return Order(
        client_order_id=client_order_id("main", session, symbol, side),
        book="main",
        session=session,
        symbol=symbol,
        side=side,
        qty=qty,
        ref_price=ref,
        stop_price=ref * 0.9 if side == "buy" else None,
        atr=1.0,
        confidence=0.6,
        strategy="Breakout",
        reason="r",
        equity_at_decision=100_000.0,
        cash_at_decision=100_000.0,
        position_qty_before=0.0,
        open_positions_before=0,
    )


def book_with(cash: float, positions: dict[str, Position] | None = None, pending: tuple[Order, ...] = ()) -> BookState:
    positions = positions or {}
    equity = cash + sum(p.qty * p.last_price for p in positions.values())
    return BookState(
        book="main", cash=cash, positions=positions, pending=pending, peak_equity=equity, last_session=D0, equity=equity
    )


def held(symbol: str, qty: float, price: float) -> Position:
    return Position(symbol=symbol, qty=qty, avg_price=price, last_price=price, entry_session=D0, stop=None)


def test_buy_fills_at_next_open_with_slippage_and_commission():
    book = book_with(100_000.0, pending=(order("AAA", "buy", 100),))
    after, fills, events = open_session(book, D1, {"AAA": 50.0}, COSTS)
    (fill,) = fills
    assert events == []
    assert (fill.session, fill.qty) == (D1, 100.0)
    assert fill.price == pytest.approx(50.025, abs=1e-12)
    assert fill.commission == 1.0  # max(1.0, 0.005 × 100 = 0.5)
    assert fill.slippage == pytest.approx(2.5, abs=1e-9)
    assert after.cash == pytest.approx(100_000 - 5_002.50 - 1.00, abs=1e-9)
    assert after.pending == ()
    position = after.positions["AAA"]
    assert (position.qty, position.entry_session, position.last_price, position.stop) == (100.0, D1, 50.0, 45.0)
    assert position.avg_price == pytest.approx(50.025)
    assert after.equity == pytest.approx(after.cash + 100 * 50.0)


def test_sell_fills_at_open_minus_slippage_with_per_share_commission():
    book = book_with(0.0, {"AAA": held("AAA", 1_000, 40.0)}, (order("AAA", "sell", 1_000, 40.0),))
    after, (fill,), events = open_session(book, D1, {"AAA": 40.0}, COSTS)
    assert events == []
    assert fill.price == pytest.approx(39.98, abs=1e-12)
    assert fill.commission == pytest.approx(5.0)  # 0.005 × 1000 > 1.0
    assert fill.slippage == pytest.approx(20.0)
    assert after.cash == pytest.approx(39_980.0 - 5.0, abs=1e-9)
    assert after.positions == {}


@pytest.mark.parametrize("opens", [{}, {"AAA": float("nan")}, {"AAA": 0.0}, {"BBB": 10.0}])
def test_no_tradable_open_cancels_instead_of_filling(opens):
    book = book_with(100_000.0, pending=(order("AAA", "buy", 100),))
    after, fills, events = open_session(book, D1, opens, COSTS)
    assert fills == []
    (event,) = events
    assert (event.rule, event.action, event.symbol, event.session) == ("no_tradable_open", "cancelled", "AAA", D1)
    assert after.pending == () and after.cash == 100_000.0 and after.positions == {}


def test_gap_up_buy_is_clipped_to_cash():
    book = book_with(10_000.0, pending=(order("AAA", "buy", 100, ref=95.0),))
    after, (fill,), (event,) = open_session(book, D1, {"AAA": 110.0}, COSTS)
    # 100 × 110.055 + 1 = 11,006.50 > 10,000; 90 × 110.055 + 1 = 9,905.95 fits, 91 would cost 10,016.005
    assert fill.qty == 90.0
    assert (event.rule, event.action) == ("clipped_at_fill", "clipped")
    assert event.value == pytest.approx(11_006.5) and event.limit == 10_000.0
    assert after.cash == pytest.approx(10_000 - 9_905.95, abs=1e-9)
    assert after.cash >= 0


def test_unaffordable_buy_is_cancelled():
    book = book_with(50.0, pending=(order("AAA", "buy", 10, ref=40.0),))
    after, fills, (event,) = open_session(book, D1, {"AAA": 60.0}, COSTS)
    assert fills == [] and (event.rule, event.action) == ("clipped_at_fill", "cancelled")
    assert after.cash == 50.0


def test_sells_are_processed_before_buys():
    # AAA sorts before ZZZ, yet the ZZZ sale must fund the AAA buy.
    pending = (order("AAA", "buy", 100, ref=50.0), order("ZZZ", "sell", 200, ref=30.0))
    book = book_with(10.0, {"ZZZ": held("ZZZ", 200, 30.0)}, pending)
    after, fills, events = open_session(book, D1, {"AAA": 50.0, "ZZZ": 30.0}, COSTS)
    assert events == []
    assert [(f.symbol, f.side, f.qty) for f in fills] == [("ZZZ", "sell", 200.0), ("AAA", "buy", 100.0)]
    assert after.cash == pytest.approx(10 + 200 * 29.985 - 1 - (100 * 50.025 + 1), abs=1e-9)


def test_sell_never_exceeds_holding():
    book = book_with(
        0.0, {"AAA": held("AAA", 50, 10.0)}, (order("AAA", "sell", 80, 10.0), order("BBB", "sell", 5, 10.0))
    )
    after, fills, events = open_session(book, D1, {"AAA": 10.0, "BBB": 10.0}, COSTS)
    assert [(f.symbol, f.qty) for f in fills] == [("AAA", 50.0)]
    assert [(e.symbol, e.rule, e.action) for e in events] == [
        ("AAA", "exceeds_position", "clipped"),
        ("BBB", "not_held", "cancelled"),
    ]
    assert after.positions == {}


def test_partial_sell_keeps_the_rest():
    book = book_with(0.0, {"AAA": held("AAA", 50, 10.0)}, (order("AAA", "sell", 20, 10.0),))
    after, _, _ = open_session(book, D1, {"AAA": 11.0}, COSTS)
    assert after.positions["AAA"].qty == 30.0 and after.positions["AAA"].avg_price == 10.0


def test_order_cannot_fill_on_its_own_decision_session():
    book = replace(book_with(100_000.0, pending=(order("AAA", "buy", 1, session=D1),)), last_session=D0)
    with pytest.raises(ValueError, match="cannot fill"):
        open_session(book, D1, {"AAA": 50.0}, COSTS)


def test_open_after_close_of_same_session_is_refused():
    with pytest.raises(ValueError, match="already closed"):
        open_session(book_with(1.0), D0, {}, COSTS)


def test_close_marks_to_market_and_keeps_stale_price_when_missing():
    book = book_with(1_000.0, {"AAA": held("AAA", 10, 10.0), "BBB": held("BBB", 5, 20.0)})
    after = close_session(book, D1, {"AAA": 12.0, "BBB": float("nan")})
    assert after.positions["AAA"].last_price == 12.0 and after.positions["BBB"].last_price == 20.0
    assert after.equity == 1_000 + 120 + 100
    assert after.peak_equity == after.equity and after.last_session == D1
    lower = close_session(after, D2, {"AAA": 8.0})
    assert lower.equity == 1_000 + 80 + 100 and lower.peak_equity == 1_220.0
    with pytest.raises(ValueError, match="already closed"):
        close_session(lower, D2, {})


def test_close_with_pending_orders_is_refused():
    with pytest.raises(ValueError, match="pending"):
        close_session(book_with(100_000.0, pending=(order("AAA", "buy", 1),)), D1, {})


def test_cost_model_validation_and_affordability():
    with pytest.raises(ValueError):
        CostModel(slippage_bps=-1)
    costs = CostModel(commission_per_share=0.01, min_commission=1.0, slippage_bps=0.0)
    # per-share commission dominates above 100 shares: q × 10.01 ≤ 5,000 → 499
    assert costs.affordable_qty(5_000.0, 10.0) == 499
    assert costs.buy_cost(499, 10.0) <= 5_000.0 < costs.buy_cost(500, 10.0)
    assert costs.affordable_qty(0.5, 10.0) == 0
