"""Alpaca orders through the real alpaca-py TradingClient against the local server."""

import pytest

from trading_pipeline.integrations.alpaca_client import AlpacaRequestError, GovernedTradingClient
from trading_pipeline.integrations.alpaca_trading import (
    LIVE_CONFIRM_VALUE,
    LIVE_CONFIRM_VARIABLE,
    AlpacaTrading,
    LiveTradingRefused,
    OrderMismatch,
    OrderSpec,
    check_live_guard,
)
from trading_pipeline.sandbox.alpaca_server import Scripted
from trading_pipeline_tests.fakes.alpaca_fixtures import alpaca_server, settings_for  # noqa: F401


@pytest.fixture
def trading(alpaca_server):
    return AlpacaTrading(GovernedTradingClient(settings_for(alpaca_server)))


def _posted(server) -> list[dict]:
    return [body for method, path, _, body in server.requests if (method, path) == ("POST", "/v2/orders")]


def test_account_clock_calendar_and_positions(alpaca_server, trading):
    account = trading.account()
    assert (account.cash, account.status, account.trading_blocked) == (100_000.0, "ACTIVE", False)
    clock = trading.market_clock()
    assert clock.now.isoformat().startswith("2012-06-01T19:30") and not clock.is_open
    assert clock.latest_closed.isoformat() == "2012-06-01"
    assert trading.positions() == {}


@pytest.mark.parametrize(
    ("spec", "wire"),
    [
        ({"kind": "market", "time_in_force": "opg"}, {"type": "market", "time_in_force": "opg"}),
        ({"kind": "limit", "time_in_force": "cls", "limit_price": 70.123}, {"type": "limit", "limit_price": 70.12}),
        ({"kind": "stop", "time_in_force": "gtc", "stop_price": 65.0}, {"type": "stop", "stop_price": 65.0}),
        ({"kind": "stop_limit", "stop_price": 65.0, "limit_price": 64.5}, {"type": "stop_limit", "limit_price": 64.5}),
        (
            {"kind": "trailing_stop", "side": "sell", "trail_percent": 5.0, "time_in_force": "gtc"},
            {"type": "trailing_stop", "trail_percent": 5.0, "side": "sell"},
        ),
        (
            {"kind": "market", "time_in_force": "gtc", "take_profit": 80.0, "stop_loss": 68.0},
            {"order_class": "bracket", "take_profit": {"limit_price": 80.0}, "stop_loss": {"stop_price": 68.0}},
        ),
    ],
)
def test_every_order_kind_reaches_the_wire_as_alpaca_expects(alpaca_server, trading, spec, wire):
    spec = {"client_order_id": "tp-kind", "symbol": "AAPL", "side": "buy", "qty": 3.0, **spec}
    outcome = trading.submit(OrderSpec(**spec))
    assert outcome.order is not None and outcome.order.client_order_id == "tp-kind"
    (body,) = _posted(alpaca_server)
    assert body["client_order_id"] == "tp-kind" and float(body["qty"]) == 3.0
    for key, value in wire.items():
        assert body[key] == value


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "limit"}, "needs limit_price"),
        ({"kind": "market", "limit_price": 5.0}, "takes no limit_price"),
        ({"kind": "stop", "stop_price": 5.0, "time_in_force": "opg"}, "applies to market and limit"),
        ({"kind": "trailing_stop"}, "exactly one of trail_percent"),
        ({"take_profit": 80.0}, "both take_profit and stop_loss"),
        ({"take_profit": 80.0, "stop_loss": 68.0, "time_in_force": "opg"}, "only with time in force day or gtc"),
        ({"take_profit": 60.0, "stop_loss": 68.0}, "needs stop_loss < take_profit"),
        ({"qty": 0.0}, "qty must be a positive number"),
        ({"time_in_force": "ioc"}, "time_in_force must be one of"),
    ],
)
def test_impossible_orders_are_refused_before_any_request(spec, message):
    with pytest.raises(ValueError, match=message):
        OrderSpec(**{"client_order_id": "tp-x", "symbol": "AAPL", "side": "buy", "qty": 1.0, **spec})


def test_a_resubmitted_order_is_found_not_duplicated(alpaca_server, trading):
    spec = OrderSpec(client_order_id="tp-once", symbol="AAPL", side="buy", qty=10.0, time_in_force="opg")
    first = trading.submit(spec)
    again = trading.submit(spec)
    assert not first.already_placed and again.already_placed
    assert again.order.broker_id == first.order.broker_id
    assert len(alpaca_server.orders) == 1
    assert alpaca_server.count("GET", "/v2/orders:by_client_order_id") == 1


def test_another_order_under_a_known_client_order_id_is_an_error_never_adopted(alpaca_server, trading):
    """A re-run after a configuration change sends the same id with another quantity: refused, clearly."""
    trading.submit(OrderSpec(client_order_id="tp-changed", symbol="AAPL", side="buy", qty=10.0))
    with pytest.raises(OrderMismatch, match=r"tp-changed: Alpaca already holds .*qty 10.0 \(asked 12.0\)"):
        trading.submit(OrderSpec(client_order_id="tp-changed", symbol="AAPL", side="buy", qty=12.0))
    with pytest.raises(OrderMismatch, match=r"type market \(asked limit\), limit_price None \(asked 70.0\)"):
        trading.submit(
            OrderSpec(client_order_id="tp-changed", symbol="AAPL", side="buy", qty=10.0, kind="limit", limit_price=70)
        )
    assert len(alpaca_server.orders) == 1


@pytest.mark.parametrize(
    ("spec", "wire"),
    [
        ({"side": "buy", "kind": "limit", "limit_price": 23.0075}, {"limit_price": 23.0}),
        ({"side": "sell", "kind": "limit", "limit_price": 23.0075}, {"limit_price": 23.01}),
        ({"side": "buy", "kind": "limit", "limit_price": 0.123456}, {"limit_price": 0.1234}),
        ({"side": "sell", "kind": "stop", "stop_price": 19.996}, {"stop_price": 20.0}),
        (
            {"side": "buy", "time_in_force": "gtc", "take_profit": 80.004, "stop_loss": 67.996},
            {"take_profit": {"limit_price": 80.01}, "stop_loss": {"stop_price": 68.0}},
        ),
    ],
)
def test_prices_go_out_on_the_tick_rounded_for_their_side(alpaca_server, trading, spec, wire):
    """A buy never pays above, a sell never takes below, a protective stop never sits further than asked."""
    trading.submit(OrderSpec(client_order_id="tp-tick", symbol="AAPL", qty=1.0, **spec))
    (body,) = _posted(alpaca_server)
    for key, value in wire.items():
        assert body[key] == value


def test_a_lost_answer_after_the_order_was_placed_finds_the_order(alpaca_server, trading):
    """The server places the order and answers 500; the retry meets 'client_order_id must be unique'."""
    alpaca_server.script("POST", "/v2/orders", Scripted(500, commit=True))
    outcome = trading.submit(OrderSpec(client_order_id="tp-lost", symbol="IBM", side="buy", qty=5.0))
    assert outcome.already_placed and outcome.order.symbol == "IBM"
    assert len(alpaca_server.orders) == 1
    assert alpaca_server.count("POST", "/v2/orders") == 2


def test_a_5xx_that_placed_nothing_raises_after_the_retries(alpaca_server, trading):
    failure = Scripted(502, {"code": 50200000, "message": "bad gateway"})
    alpaca_server.script("POST", "/v2/orders", failure, failure, failure)
    with pytest.raises(AlpacaRequestError, match="HTTP 502: bad gateway after 3 attempts"):
        trading.submit(OrderSpec(client_order_id="tp-5xx", symbol="IBM", side="buy", qty=5.0))
    assert alpaca_server.orders == {}  # nothing placed: a re-execution will submit it


@pytest.mark.parametrize(
    ("symbol", "qty", "reason"),
    [("AAPL", 10_000.0, "insufficient_buying_power"), ("ZZZZ", 1.0, "unknown_symbol"), ("HALT", 1.0, "not_tradable")],
)
def test_rejections_are_clear_outcomes(alpaca_server, trading, symbol, qty, reason):
    outcome = trading.submit(OrderSpec(client_order_id=f"tp-{symbol}", symbol=symbol, side="buy", qty=qty))
    assert outcome.order is None and outcome.rejection.reason == reason
    assert alpaca_server.orders == {}


def test_asset_check_reports_unknown_and_halted_symbols(trading):
    assert trading.asset_tradable("AAPL") is None
    assert trading.asset_tradable("ZZZZ").reason == "unknown_symbol"
    assert trading.asset_tradable("HALT").reason == "not_tradable"


def test_a_partial_fill_then_a_fill(alpaca_server, trading):
    trading.submit(OrderSpec(client_order_id="tp-part", symbol="MSFT", side="buy", qty=10.0, time_in_force="opg"))
    alpaca_server.fill("tp-part", 4.0, 29.0)
    partial = trading.order("tp-part")
    assert (partial.status, partial.filled_qty, partial.filled_avg_price, partial.is_open) == (
        "partially_filled",
        4.0,
        29.0,
        True,
    )
    assert trading.positions() == {"MSFT": 4.0}
    alpaca_server.fill("tp-part", 6.0, 30.0)
    done = trading.order("tp-part")
    assert (done.status, done.filled_qty, done.is_open) == ("filled", 10.0, False)
    assert done.filled_avg_price == pytest.approx(29.6)
    assert trading.positions() == {"MSFT": 10.0}


def test_cancel_an_open_order_and_a_filled_one(alpaca_server, trading):
    trading.submit(OrderSpec(client_order_id="tp-open", symbol="AAPL", side="buy", qty=2.0))
    assert trading.cancel("tp-open").status == "canceled"
    trading.submit(OrderSpec(client_order_id="tp-done", symbol="AAPL", side="buy", qty=2.0))
    alpaca_server.fill("tp-done", 2.0, 70.0)
    assert trading.cancel("tp-done").status == "filled"  # nothing left to cancel
    with pytest.raises(ValueError, match="no such order"):
        trading.cancel("tp-never")


@pytest.mark.parametrize(
    ("mode", "url", "env", "message"),
    [
        ("paper", "https://API.ALPACA.MARKETS", {}, "is Alpaca's live API but the broker trades paper"),
        ("paper", "https://api.alpaca.markets./v2", {}, "is Alpaca's live API"),
        ("live", "https://paper-api.alpaca.markets", {LIVE_CONFIRM_VARIABLE: LIVE_CONFIRM_VALUE}, "only talks to"),
        ("live", "https://api.alpaca.markets.evil.example", {LIVE_CONFIRM_VARIABLE: LIVE_CONFIRM_VALUE}, "only talks"),
        ("live", None, {}, f"also needs {LIVE_CONFIRM_VARIABLE}="),
        ("live", None, {LIVE_CONFIRM_VARIABLE: "yes"}, "live trading refused"),
        ("real", None, {}, "must be 'paper' or 'live'"),
    ],
)
def test_the_live_guard_compares_parsed_host_names_and_needs_the_confirmation(mode, url, env, message):
    with pytest.raises(LiveTradingRefused, match=message):
        check_live_guard(mode, url, env)


def test_paper_may_use_the_paper_api_or_a_sandbox_and_live_only_the_live_api():
    check_live_guard("paper", None, {})
    check_live_guard("paper", "http://127.0.0.1:8765", {})
    check_live_guard("live", None, {LIVE_CONFIRM_VARIABLE: LIVE_CONFIRM_VALUE})
