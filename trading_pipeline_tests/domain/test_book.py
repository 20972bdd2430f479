import json
from datetime import date, datetime

import pandas as pd
import pytest

from trading_pipeline.domain.book import (
    BookState,
    Fill,
    Order,
    Position,
    RiskEvent,
    as_session,
    client_order_id,
    fill_id,
    fills_to_frame,
    orders_from_frame,
    orders_to_frame,
)

D1, D2 = date(2024, 1, 2), date(2024, 1, 3)


def make_order(**overrides) -> Order:
    fields = {
        "client_order_id": client_order_id("main", D1, "AAA", "buy"),
        "book": "main",
        "session": D1,
        "symbol": "AAA",
        "side": "buy",
        "qty": 100.0,
        "ref_price": 10.0,
        "stop_price": 7.0,
        "atr": 2.0,
        "confidence": 0.5,
        "strategy": "TrendFollowing",
        "reason": "up",
        "equity_at_decision": 100_000.0,
        "cash_at_decision": 100_000.0,
        "position_qty_before": 0.0,
        "open_positions_before": 0,
    }
    return Order(**{**fields, **overrides})


def json_round_trip(obj):
    return type(obj).from_dict(json.loads(json.dumps(obj.to_dict())))


def test_records_round_trip_through_json():
    position = Position(symbol="AAA", qty=10.0, avg_price=10.005, last_price=11.0, entry_session=D1, stop=7.0)
    order = make_order()
    sell = make_order(
        client_order_id=client_order_id("main", D1, "BBB", "sell"), symbol="BBB", side="sell", stop_price=None, atr=None
    )
    fill = Fill(
        fill_id=fill_id(order.client_order_id),
        client_order_id=order.client_order_id,
        book="main",
        session=D2,
        symbol="AAA",
        side="buy",
        qty=100.0,
        price=10.005,
        commission=1.0,
        slippage=0.5,
    )
    event = RiskEvent(session=D1, symbol=None, rule="cash", action="clipped", value=1.5, limit=None, message="m")
    for obj in (position, order, sell, fill, event):
        assert json_round_trip(obj) == obj


def test_book_state_round_trip_and_equity():
    position = Position(symbol="AAA", qty=10.0, avg_price=10.0, last_price=12.5, entry_session=D1, stop=None)
    state = BookState(
        book="main",
        cash=875.0,
        positions={"AAA": position},
        pending=(make_order(),),
        peak_equity=1_100.0,
        last_session=D2,
        equity=1_000.0,
    )
    again = json_round_trip(state)
    assert again == state
    assert again.to_dict() == state.to_dict()
    assert state.drawdown == pytest.approx(1_000 / 1_100 - 1)


def test_initial_book():
    state = BookState.initial("main", 50_000)
    assert (state.cash, state.equity, state.peak_equity, state.positions, state.pending, state.last_session) == (
        50_000.0,
        50_000.0,
        50_000.0,
        {},
        (),
        None,
    )
    with pytest.raises(ValueError, match="positive"):
        BookState.initial("main", 0)
    with pytest.raises(ValueError, match="finite"):
        BookState.initial("main", float("nan"))


def test_inconsistent_equity_is_rejected():
    with pytest.raises(ValueError, match="equity"):
        BookState(book="main", cash=100.0, positions={}, pending=(), peak_equity=100.0, last_session=None, equity=101.0)


def test_pending_order_of_another_book_is_rejected():
    with pytest.raises(ValueError, match="belongs to book"):
        BookState(
            book="other",
            cash=1.0,
            positions={},
            pending=(make_order(),),
            peak_equity=1.0,
            last_session=None,
            equity=1.0,
        )


def test_ids_are_deterministic_and_distinct():
    a = client_order_id("main", D1, "AAA", "buy")
    assert a == client_order_id("main", D1, "AAA", "buy") == client_order_id("main", pd.Timestamp(D1), "AAA", "buy")
    assert a.startswith("tp-")
    others = {
        client_order_id("other", D1, "AAA", "buy"),
        client_order_id("main", D2, "AAA", "buy"),
        client_order_id("main", D1, "AAB", "buy"),
        client_order_id("main", D1, "AAA", "sell"),
    }
    assert a not in others and len(others) == 4
    assert fill_id(a) == fill_id(a) != fill_id(client_order_id("main", D2, "AAA", "buy"))
    assert fill_id(a).startswith("tpf-")


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="side"):
        make_order(side="short")
    with pytest.raises(ValueError, match="qty"):
        make_order(qty=0.0)
    with pytest.raises(TypeError, match=r"datetime\.date"):
        make_order(session=datetime(2024, 1, 2))
    with pytest.raises(ValueError, match="positive qty"):
        Position(symbol="AAA", qty=0.0, avg_price=1.0, last_price=1.0, entry_session=D1, stop=None)
    with pytest.raises(ValueError, match="action"):
        RiskEvent(session=D1, symbol=None, rule="x", action="ignored", value=None, limit=None, message="")


def test_as_session():
    assert as_session(pd.Timestamp("2024-01-02")) == D1 and type(as_session(pd.Timestamp("2024-01-02"))) is date
    assert as_session("2024-01-02") == D1
    with pytest.raises(ValueError, match="time of day"):
        as_session(datetime(2024, 1, 2, 9, 30))


def test_order_frame_round_trip():
    orders = [
        make_order(),
        make_order(
            client_order_id="tp-x", symbol="BBB", side="sell", stop_price=None, atr=None, open_positions_before=3
        ),
    ]
    frame = orders_to_frame(orders)
    assert frame["session"].dtype == "datetime64[ns]"
    assert orders_from_frame(frame) == orders
    assert orders_to_frame([]).empty
    fills = fills_to_frame([])
    assert list(fills.columns)[:3] == ["fill_id", "client_order_id", "book"]
