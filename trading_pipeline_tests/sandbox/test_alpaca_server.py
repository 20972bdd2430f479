"""The sandbox's trading API through alpaca-py's real TradingClient: the clock moves, orders execute on the
bundled 2012 bars, and every expected price is read from the bundle here, not from the sandbox."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetAssetsRequest,
    GetCalendarRequest,
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from trading_pipeline.domain import calendar
from trading_pipeline.integrations.alpaca_client import GovernedTradingClient
from trading_pipeline.sandbox.alpaca_server import NEW_YORK, SECRET_KEY, AlpacaSandbox
from trading_pipeline.sandbox.assets import Asset
from trading_pipeline_tests.fakes.alpaca_fixtures import fresh_key, sample_bars, settings_for

BARS = sample_bars(["AAPL", "IBM", "MSFT"], "2012-05-01", "2012-07-31")


def bar(symbol: str, day: str) -> pd.Series:
    (row,) = BARS[(BARS["symbol"] == symbol) & (BARS["date"] == day)].itertuples(index=False)
    return pd.Series(row._asdict())


def previous_close(symbol: str, day: str) -> float:
    return float(bar(symbol, str(calendar.previous_session(day).date()))["close"])


def evening(day: str) -> datetime:
    """19:30 New York: after the close, when Alpaca queues orders (opg too) for the next session."""
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), NEW_YORK).replace(hour=19, minute=30)


@contextmanager
def trading(now: datetime, **config) -> Iterator[tuple[AlpacaSandbox, TradingClient]]:
    with AlpacaSandbox(bars=BARS, now=now, **config) as sandbox:
        yield sandbox, TradingClient(fresh_key(), SECRET_KEY, url_override=sandbox.url)


def buy_at_open(sandbox: AlpacaSandbox, client: TradingClient, symbol: str, qty: float, coid: str) -> None:
    client.submit_order(
        MarketOrderRequest(symbol=symbol, qty=qty, side="buy", time_in_force="opg", client_order_id=coid)
    )
    sandbox.advance({"advance": "next_close"})


def test_a_bracket_fills_at_the_open_then_its_take_profit_inside_the_bar_and_cancels_its_stop():
    day = "2012-05-21"  # AAPL rallies from the open to a high 5% above it
    row, before = bar("AAPL", day), previous_close("AAPL", day)
    take, stop = round(row["open"] * 1.02, 2), round(before * 0.99, 2)
    assert row["low"] > stop and row["open"] < take < row["high"]  # the day touches the target, not the stop
    with trading(evening("2012-05-18")) as (sandbox, client):
        placed = client.submit_order(
            MarketOrderRequest(
                symbol="AAPL",
                qty=10,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.GTC,
                order_class=OrderClass.BRACKET,
                take_profit=TakeProfitRequest(limit_price=take),
                stop_loss=StopLossRequest(stop_price=stop),
                client_order_id="br-1",
            )
        )
        assert (placed.status, placed.order_class) == ("accepted", "bracket")
        legs = {leg.type.value: leg for leg in placed.legs}
        assert {k: (v.status.value, v.side.value) for k, v in legs.items()} == {
            "limit": ("held", "sell"),
            "stop": ("held", "sell"),
        }
        assert (float(legs["limit"].limit_price), float(legs["stop"].stop_price)) == (take, stop)

        sandbox.advance({"advance": "next_open"})
        entry = client.get_order_by_id(placed.id, GetOrderByIdRequest(nested=True))
        assert entry.status == "filled" and float(entry.filled_avg_price) == pytest.approx(row["open"])
        assert {leg.status.value for leg in entry.legs} == {"new"}  # the exits work once the entry filled
        assert float(client.get_open_position("AAPL").qty_available) == 0  # the exits hold the shares

        sandbox.advance({"advance": "next_close"})
        target, protective = (client.get_order_by_id(legs[k].id) for k in ("limit", "stop"))
    assert (target.status, float(target.filled_avg_price), protective.status) == ("filled", take, "canceled")
    assert float(client_cash(sandbox)) == pytest.approx(100_000 - 10 * row["open"] + 10 * take)


def client_cash(sandbox: AlpacaSandbox) -> float:
    return sandbox.account.cash


def test_an_oco_exit_pair_stops_out_when_the_low_crosses_the_stop_and_cancels_the_take_profit():
    day = "2012-05-17"
    row, mark = bar("AAPL", day), previous_close("AAPL", day)
    take, stop = round(mark * 1.03, 2), round(row["open"] * 0.99, 2)
    assert row["high"] < take and row["low"] < stop < row["open"]  # no gap: the stop is crossed inside the bar
    with trading(evening("2012-05-15")) as (sandbox, client):
        buy_at_open(sandbox, client, "AAPL", 10, "entry")  # bought at 05-16's open; the clock at its close
        pair = client.submit_order(
            LimitOrderRequest(
                symbol="AAPL",
                qty=10,
                side="sell",
                time_in_force="gtc",
                order_class=OrderClass.OCO,
                take_profit=TakeProfitRequest(limit_price=take),
                stop_loss=StopLossRequest(stop_price=stop),
                client_order_id="oco-1",
            )
        )
        (leg,) = pair.legs
        assert (pair.type, float(pair.limit_price), pair.status) == ("limit", take, "accepted")  # it is the target
        assert (leg.type, float(leg.stop_price), leg.status, leg.order_class) == ("stop", stop, "accepted", "oco")
        sandbox.advance({"advance": "next_close"})
        target, protective = client.get_order_by_id(pair.id), client.get_order_by_id(leg.id)
        with pytest.raises(APIError, match="position does not exist"):
            client.get_open_position("AAPL")
    assert (protective.status, float(protective.filled_avg_price)) == ("filled", stop)
    assert target.status == "canceled" and target.canceled_at == protective.filled_at


def test_a_stop_the_open_gaps_through_fills_at_the_open():
    day = "2012-07-25"  # AAPL opens 4% down after earnings
    row, mark = bar("AAPL", day), previous_close("AAPL", day)
    stop = round(mark * 0.98, 2)
    assert row["open"] < stop
    with trading(evening("2012-07-23")) as (sandbox, client):
        buy_at_open(sandbox, client, "AAPL", 5, "entry")
        client.submit_order(StopOrderRequest(symbol="AAPL", qty=5, side="sell", time_in_force="gtc", stop_price=stop))
        updates = sandbox.advance({"advance": "next_open"})
    (fill,) = [u for u in updates if u.event == "fill"]
    assert float(fill.order["filled_avg_price"]) == pytest.approx(row["open"]) and fill.order["stop_price"] == str(stop)


def test_a_trailing_stop_follows_the_highs_and_fills_when_a_low_reaches_it():
    first, trail = "2012-06-18", 2.0
    with trading(evening("2012-06-15")) as (sandbox, client):
        buy_at_open(sandbox, client, "MSFT", 20, "entry")
        placed = client.submit_order(
            TrailingStopOrderRequest(symbol="MSFT", qty=20, side="sell", time_in_force="gtc", trail_percent=trail)
        )
        hwm = float(bar("MSFT", first)["close"])  # placed at the close: the last price is the mark
        assert (float(placed.hwm), float(placed.stop_price)) == (pytest.approx(hwm), pytest.approx(hwm * 0.98))
        # the same walk, by hand: the open, then the range (the stop from the mark before the bar's high)
        expected = None
        for day in calendar.sessions("2012-06-19", "2012-07-31"):
            row = bar("MSFT", str(day.date()))
            stop = hwm * (1 - trail / 100)
            if row["open"] <= stop:
                expected = (day.date(), row["open"])
                break
            hwm = max(hwm, row["open"])
            stop = hwm * (1 - trail / 100)
            if row["low"] <= stop:
                expected = (day.date(), stop)
                break
            hwm = max(hwm, row["high"])
            sandbox.advance({"advance": "next_close"})
            working = client.get_order_by_id(placed.id)
            assert working.status == "new" and float(working.hwm) == pytest.approx(hwm)
            assert float(working.stop_price) == pytest.approx(hwm * (1 - trail / 100))
        assert expected is not None and expected[0] > date(2012, 6, 20)  # it trailed for two sessions first
        assert hwm > float(placed.hwm)  # and its mark rose with the highs
        sandbox.advance({"advance": "next_close"})
        done = client.get_order_by_id(placed.id)
    assert done.status == "filled" and float(done.filled_avg_price) == pytest.approx(expected[1])
    assert done.filled_at.astimezone(NEW_YORK).date() == expected[0]


def test_replacing_an_order_gives_a_new_order_and_marks_the_old_one_replaced():
    day = "2012-05-22"
    row = bar("IBM", day)
    with trading(evening("2012-05-21")) as (sandbox, client):
        old = client.submit_order(
            LimitOrderRequest(
                symbol="IBM", qty=3, side="buy", time_in_force="gtc", limit_price=100.0, client_order_id="r-1"
            )
        )
        with pytest.raises(APIError, match=r"not replaceable in .*accepted"):  # queued: Alpaca refuses too
            client.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=101.0))
        sandbox.advance({"advance": "next_open"})
        limit = round(row["low"] + 0.5, 2)
        assert limit < row["open"]  # not marketable at the open: it fills inside the bar, at the limit
        new = client.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=limit, client_order_id="r-2"))
        replaced = client.get_order_by_client_id("r-1")
        assert new.id != old.id and str(new.replaces) == str(old.id) and new.client_order_id == "r-2"
        assert replaced.status == "replaced" and str(replaced.replaced_by) == str(new.id)
        sandbox.advance({"advance": "next_close"})
        filled = client.get_order_by_client_id("r-2")
    assert (filled.status, float(filled.filled_avg_price), float(filled.limit_price)) == ("filled", limit, limit)


def test_day_orders_expire_at_the_close_opg_leftovers_after_the_open_and_cls_orders_fill_at_the_close():
    day = "2012-05-22"
    row = bar("AAPL", day)
    with trading(evening("2012-05-21")) as (sandbox, client):
        for coid, tif, kind in (("d", "day", "limit"), ("o", "opg", "limit"), ("c", "cls", "market")):
            price = {"limit_price": round(row["low"] * 0.9, 2)} if kind == "limit" else {}
            request = LimitOrderRequest if kind == "limit" else MarketOrderRequest
            client.submit_order(
                request(symbol="AAPL", qty=1, side="buy", time_in_force=tif, client_order_id=coid, **price)
            )
        sandbox.advance({"advance": "next_open"})
        assert client.get_order_by_client_id("o").status == "expired"  # unfilled in the opening auction
        assert client.get_order_by_client_id("d").status == "new"
        sandbox.advance({"advance": "next_close"})
        day_order, on_close = client.get_order_by_client_id("d"), client.get_order_by_client_id("c")
    assert day_order.status == "expired" and day_order.expired_at is not None
    assert (on_close.status, float(on_close.filled_avg_price)) == ("filled", pytest.approx(row["close"]))


def test_a_scripted_partial_fill_leaves_the_order_partially_filled_until_the_rest_fills():
    day = "2012-05-22"
    row = bar("MSFT", day)
    with trading(evening("2012-05-21")) as (sandbox, client):
        client.submit_order(
            MarketOrderRequest(symbol="MSFT", qty=10, side="buy", time_in_force="day", client_order_id="p")
        )
        client.submit_order(
            MarketOrderRequest(symbol="MSFT", qty=10, side="buy", time_in_force="opg", client_order_id="q")
        )
        sandbox.partial("p", 4)
        sandbox.partial("q", 3)
        sandbox.advance({"advance": "next_open"})
        partial = client.get_order_by_client_id("p")
        assert (partial.status, float(partial.filled_qty)) == ("partially_filled", 4)
        auction = client.get_order_by_client_id("q")  # the rest of an opg order does not outlive the auction
        assert (auction.status, float(auction.filled_qty)) == ("expired", 3)
        sandbox.advance({"advance": "next_close"})
        done = client.get_order_by_client_id("p")
    assert done.status == "filled"
    assert float(done.filled_avg_price) == pytest.approx((4 * row["open"] + 6 * row["close"]) / 10)


def test_opg_orders_are_refused_between_0928_and_1900_and_day_orders_are_queued():
    after_close = evening("2012-05-21").replace(hour=16, minute=30)
    with trading(after_close) as (sandbox, client):
        with pytest.raises(APIError, match="opg orders must be submitted after 7:00pm and before 9:28am"):
            client.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="opg"))
        queued = client.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day"))
        assert queued.status == "accepted"
        sandbox.advance({"to": evening("2012-05-21").isoformat()})
        assert client.submit_order(
            MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="opg")
        ).status == ("accepted")


def test_shares_held_by_an_exit_cannot_be_sold_again_and_a_buy_against_a_resting_stop_is_a_wash_trade():
    with trading(evening("2012-05-21")) as (sandbox, client):
        buy_at_open(sandbox, client, "IBM", 4, "entry")
        stop = round(bar("IBM", "2012-05-22")["low"] * 0.9, 2)
        client.submit_order(StopOrderRequest(symbol="IBM", qty=4, side="sell", time_in_force="gtc", stop_price=stop))
        with pytest.raises(APIError, match=r"insufficient qty available for order \(requested: 4, available: 0\)"):
            client.close_position("IBM")
        with pytest.raises(APIError, match="potential wash trade detected"):
            client.submit_order(
                LimitOrderRequest(symbol="IBM", qty=1, side="buy", time_in_force="day", limit_price=1.0)
            )
        client.cancel_orders()
        closing = client.close_position("IBM", ClosePositionRequest(percentage="50"))
        assert (closing.side, float(closing.qty), closing.type) == ("sell", 2, "market")


def test_positions_account_and_closing_positions_at_the_next_open():
    with trading(evening("2012-05-21")) as (sandbox, client):
        client.submit_order(MarketOrderRequest(symbol="IBM", qty=2, side="buy", time_in_force="opg"))
        buy_at_open(sandbox, client, "AAPL", 10, "entry")  # both at 05-22's open; the clock at its close
        aapl, ibm = bar("AAPL", "2012-05-22"), bar("IBM", "2012-05-22")
        position = client.get_open_position("AAPL")
        assert (float(position.avg_entry_price), float(position.current_price)) == (
            pytest.approx(aapl["open"]),
            pytest.approx(aapl["close"]),
        )
        assert float(position.unrealized_pl) == pytest.approx(10 * (aapl["close"] - aapl["open"]))
        gains = 10 * (aapl["close"] - aapl["open"]) + 2 * (ibm["close"] - ibm["open"])
        assert float(client.get_account().equity) == pytest.approx(100_000 + gains)
        order = client.close_position("AAPL")
        assert order.status == "accepted"  # a market order after the close waits for the next open
        sandbox.advance({"advance": "next_open"})
        assert [p.symbol for p in client.get_all_positions()] == ["IBM"]
        next_open = bar("AAPL", "2012-05-23")["open"]
        assert float(client.get_order_by_id(order.id).filled_avg_price) == pytest.approx(next_open)
        (closing,) = client.close_all_positions(cancel_orders=True)
    assert (closing.symbol, closing.status, closing.body.side, float(closing.body.qty)) == ("IBM", 200, "sell", 2)


def test_listing_orders_by_status_symbol_and_nesting():
    with trading(evening("2012-05-21")) as (sandbox, client):
        buy_at_open(sandbox, client, "AAPL", 10, "a")
        client.submit_order(
            MarketOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="day", client_order_id="m")
        )
        client.submit_order(
            LimitOrderRequest(
                symbol="AAPL",
                qty=10,
                side="sell",
                time_in_force="gtc",
                order_class="oco",
                take_profit=TakeProfitRequest(limit_price=200.0),
                stop_loss=StopLossRequest(stop_price=10.0),
                client_order_id="x",
            )
        )
        open_flat = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
        open_nested = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, nested=True))
        closed = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
        msft = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, symbols=["MSFT"]))
    assert len(open_flat) == 3 and [o.client_order_id for o in open_nested if o.legs] == ["x"]
    assert [o.client_order_id for o in open_nested] == ["x", "m"]  # newest first
    assert [o.client_order_id for o in closed] == ["a"] and [o.client_order_id for o in msft] == ["m"]


def test_clock_and_calendar_know_holidays_and_early_closes():
    before_thanksgiving = datetime(2012, 11, 21, 17, 0, tzinfo=NEW_YORK)
    with trading(before_thanksgiving) as (sandbox, client):
        clock = client.get_clock()
        days = client.get_calendar(GetCalendarRequest(start=date(2012, 11, 21), end=date(2012, 11, 26)))
        sandbox.advance({"advance": "next_open"})
        opened = client.get_clock()
    assert not clock.is_open and clock.next_open.isoformat() == "2012-11-23T09:30:00-05:00"
    assert clock.next_close.isoformat() == "2012-11-23T13:00:00-05:00"
    assert [(d.date.isoformat(), d.close.strftime("%H:%M")) for d in days] == [
        ("2012-11-21", "16:00"),
        ("2012-11-23", "13:00"),
        ("2012-11-26", "16:00"),
    ]
    assert opened.is_open and opened.timestamp.isoformat() == "2012-11-23T09:30:00-05:00"


def test_assets_are_listed_and_filtered_as_alpaca_does():
    assets = [
        Asset("AAPL", "Apple"),
        Asset("IBM", "IBM", exchange="NYSE", fractionable=False),
        Asset("OLD", "Delisted", status="inactive", tradable=False, attributes=("ptp_no_exception",)),
    ]
    with trading(evening("2012-05-21"), assets=assets) as (sandbox, client):
        active = client.get_all_assets(GetAssetsRequest(status="active"))
        nyse = client.get_all_assets(GetAssetsRequest(exchange="NYSE"))
        flagged = client.get_all_assets(GetAssetsRequest(attributes="ptp_no_exception,has_options"))
        ibm = client.get_asset("IBM")
        by_id = client.get_asset(ibm.id)
        with pytest.raises(APIError, match="asset not found"):
            client.get_asset("NOPE")
        with pytest.raises(APIError, match="not tradable"):
            client.submit_order(MarketOrderRequest(symbol="OLD", qty=1, side="buy", time_in_force="day"))
        refused = requests.get(f"{sandbox.url}/v2/assets", params={"status": "halted"}, headers=auth(), timeout=5)
    assert [a.symbol for a in active] == ["AAPL", "IBM"] and [a.symbol for a in nyse] == ["IBM"]
    assert [a.symbol for a in flagged] == ["OLD"] and not ibm.fractionable and by_id.symbol == "IBM"
    assert refused.status_code == 400 and "invalid status" in refused.json()["message"]


def auth() -> dict[str, str]:
    return {"APCA-API-KEY-ID": fresh_key(), "APCA-API-SECRET-KEY": SECRET_KEY}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}, 422, "symbol is required"),
        ({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "time_in_force": "day"}, 422, "limit_price is required"),
        (
            {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "time_in_force": "day", "limit_price": "70.123"},
            422,
            "sub-penny increment",
        ),
        (
            {"symbol": "AAPL", "qty": "1", "side": "sell", "type": "market", "time_in_force": "gtc", "order_class": "oco",
             "take_profit": {"limit_price": "80"}, "stop_loss": {"stop_price": "60"}},
            422,
            "oco orders must be limit orders",
        ),
        (
            {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "opg", "order_class": "bracket",
             "take_profit": {"limit_price": "80"}, "stop_loss": {"stop_price": "60"}},
            422,
            "bracket orders must be day or gtc orders",
        ),
        (
            {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "gtc", "order_class": "bracket",
             "take_profit": {"limit_price": "60"}, "stop_loss": {"stop_price": "50"}},
            422,
            "take_profit.limit_price must be >= base_price + 0.01",
        ),
        ({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "trailing_stop", "time_in_force": "opg", "trail_price": "1"}, 422, "day or gtc"),
        ("not an order", 422, "must be a JSON object"),
    ],
)  # fmt: skip
def test_orders_alpaca_refuses_get_its_error(body, status, message):
    with AlpacaSandbox(bars=BARS, now=evening("2012-05-21")) as sandbox:
        answer = requests.post(f"{sandbox.url}/v2/orders", json=body, headers=auth(), timeout=5)
    assert answer.status_code == status and message in answer.json()["message"]
    assert sandbox.orders == {}


def test_the_control_api_moves_the_clock_over_http_and_reports_what_happened():
    with trading(evening("2012-05-21")) as (sandbox, client):
        client.submit_order(
            MarketOrderRequest(symbol="IBM", qty=2, side="buy", time_in_force="opg", client_order_id="h")
        )
        moved = requests.post(f"{sandbox.url}/sandbox/clock", json={"advance": "next_open"}, timeout=5).json()
        backwards = requests.post(f"{sandbox.url}/sandbox/clock", json={"to": "2012-05-01T10:00:00Z"}, timeout=5)
        nonsense = requests.post(f"{sandbox.url}/sandbox/clock", json={"advance": "tomorrow"}, timeout=5)
        too_far = requests.post(f"{sandbox.url}/sandbox/clock", json={"to": "2099-01-01T00:00:00Z"}, timeout=5)
    assert moved["clock"]["is_open"] and moved["clock"]["timestamp"] == "2012-05-22T09:30:00-04:00"
    assert [(u["event"], u["order"]["client_order_id"]) for u in moved["updates"]] == [("new", "h"), ("fill", "h")]
    assert float(moved["updates"][1]["order"]["filled_avg_price"]) == pytest.approx(bar("IBM", "2012-05-22")["open"])
    assert backwards.status_code == 400 and "only moves forward" in backwards.json()["message"]
    assert nonsense.status_code == 400
    assert too_far.status_code == 400 and "outside the XNYS calendar" in too_far.json()["message"]


def test_the_exchange_controls_and_scripted_failures_over_http():
    with trading(evening("2012-05-21")) as (sandbox, client):
        for coid in ("f", "e"):
            client.submit_order(
                MarketOrderRequest(symbol="MSFT", qty=5, side="buy", time_in_force="day", client_order_id=coid)
            )
        control = f"{sandbox.url}/sandbox"
        assert requests.post(f"{control}/fill", json={"client_order_id": "f", "qty": 2, "price": 30.5}, timeout=5).ok
        assert requests.post(f"{control}/expire", json={"client_order_id": "e", "status": "canceled"}, timeout=5).ok
        again = requests.post(f"{control}/expire", json={"client_order_id": "e"}, timeout=5)
        burst = {"method": "GET", "path": "/v2/account", "status": 429, "headers": {"Retry-After": "0"}, "times": 2}
        assert requests.post(f"{control}/script", json=burst, timeout=5).json() == {"scripted": 2}
        governed = GovernedTradingClient(settings_for(sandbox))
        account = governed.get_account()
        partly, cancelled = client.get_order_by_client_id("f"), client.get_order_by_client_id("e")
    assert (partly.status, float(partly.filled_qty), float(partly.filled_avg_price)) == ("partially_filled", 2, 30.5)
    assert cancelled.status == "canceled" and again.status_code == 400 and "already canceled" in again.json()["message"]
    assert float(account.cash) == pytest.approx(100_000 - 2 * 30.5)
    assert governed.retries == 2 and sandbox.count("GET", "/v2/account") == 3  # the burst, then the answer
