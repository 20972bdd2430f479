"""AlpacaBroker: the live cycle's session against the local Alpaca, idempotent, guarded, protected at the broker.

The sandbox plays the exchange: its clock is moved through the opens and closes, so entries fill at the
bundled bars' opens and protective stops trigger on their lows, as they would at Alpaca. What each test
expects is recomputed from those bars.
"""

from datetime import date, datetime
from pathlib import Path

import pytest
from dagster import AssetSelection, materialize

from trading_pipeline.definitions import ASSETS, CHECKS, DEFAULT_RESOURCES
from trading_pipeline.defs.execution.reconciliation import positions_reconciled
from trading_pipeline.defs.reporting.tearsheet import weekly_tearsheet_job, weekly_tearsheet_schedule
from trading_pipeline.defs.resources.alpaca_broker import AlpacaBroker, SessionGap, SessionNotCurrent
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.domain.book import BookState, Order, client_order_id, fill_id
from trading_pipeline.domain.engine import PricePanels
from trading_pipeline.domain.ticks import round_to_tick
from trading_pipeline.integrations.alpaca_book import UnknownPositions, execution_fill_id
from trading_pipeline.integrations.alpaca_trading import LIVE_CONFIRM_VARIABLE, LiveTradingRefused
from trading_pipeline.journal import JournalError
from trading_pipeline.journal.books import BookJournal
from trading_pipeline.sandbox.alpaca_server import NEW_YORK, SECRET_KEY, AlpacaSandbox, Scripted
from trading_pipeline_tests.cycles import run_cycle
from trading_pipeline_tests.fakes.alpaca_fixtures import alpaca_server, fresh_key, sample_bars  # noqa: F401

BOOK = "alpaca-test"
D1, D2, D3 = date(2012, 6, 1), date(2012, 6, 4), date(2012, 6, 5)
BARS = sample_bars(["AAPL", "IBM", "MSFT"], "2012-05-01", "2012-06-29")


def _bar(symbol: str, day: date) -> dict[str, float]:
    row = BARS[(BARS["symbol"] == symbol) & (BARS["date"] == str(day))]
    return row.iloc[0][["open", "high", "low", "close"]].astype(float).to_dict()


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)


def _evening(day: date) -> datetime:
    return _at(day, 19, 30)


def _broker(server, **config) -> AlpacaBroker:
    return AlpacaBroker(
        api_key=fresh_key(),
        secret_key=SECRET_KEY,
        trading_url=server.url,
        max_attempts=3,
        retry_base_delay_s=0.01,
        **config,
    )


def _order(symbol: str, qty: float, session: date = D1, side: str = "buy", **exits) -> Order:
    row = BARS[(BARS["symbol"] == symbol) & (BARS["date"] == str(session))]
    close = float(row["close"].iloc[0]) if len(row) else 50.0  # a symbol the bundled data lacks (e.g. HALT)
    return Order(
        client_order_id=client_order_id(BOOK, session, symbol, f"{side}:entry"),
        book=BOOK,
        session=session,
        symbol=symbol,
        side=side,
        qty=qty,
        ref_price=close,
        stop_price=exits.pop("stop_price", close * 0.95) if side == "buy" else None,
        atr=1.0,
        confidence=0.6,
        strategy="TrendFollowing",
        reason="test",
        equity_at_decision=100_000.0,
        cash_at_decision=100_000.0,
        position_qty_before=0.0,
        open_positions_before=0,
        **exits,
    )


def _prices(day: date) -> PricePanels:
    return PricePanels.from_bars(BARS, [day])


def _run(broker: AlpacaBroker, book: BookState, day: date, orders: list[Order] = ()):
    (result,) = broker.execute(book, [day], {day: list(orders)} if orders else {}, _prices(day))
    return result


def _fresh() -> BookState:
    return BookState.initial(BOOK, 100_000.0)


def _working(server: AlpacaSandbox, symbol: str) -> list:
    return [o for o in server.orders.values() if o.symbol == symbol and o.is_open]


@pytest.fixture(autouse=True)
def _paper(monkeypatch):
    monkeypatch.delenv(LIVE_CONFIRM_VARIABLE, raising=False)


def test_entries_leave_as_gtc_orders_carrying_their_exits_held_at_the_broker(alpaca_server):
    broker = _broker(alpaca_server)
    assert broker.mode == "paper"
    aapl = _order("AAPL", 10)
    ibm = _order("IBM", 5, take_profit=_bar("IBM", D1)["close"] * 1.1)
    result = _run(broker, _fresh(), D1, [aapl, ibm])
    assert result.fills == () and result.events == ()
    assert result.state.cash == 100_000.0 and result.state.last_session == D1
    entries = {o.client_order_id: alpaca_server.order(o.client_order_id) for o in (aapl, ibm)}
    assert {(o.order_class, o.time_in_force, o.status) for o in entries.values()} == {
        ("oto", "gtc", "accepted"),
        ("bracket", "gtc", "accepted"),
    }
    legs = {
        (alpaca_server.orders[i].symbol, alpaca_server.orders[i].type, alpaca_server.orders[i].status)
        for o in entries.values()
        for i in o.legs
    }
    assert legs == {("AAPL", "stop", "held"), ("IBM", "stop", "held"), ("IBM", "limit", "held")}
    aapl_stop = alpaca_server.orders[entries[aapl.client_order_id].legs[0]]
    assert aapl_stop.stop_price == round_to_tick(aapl.stop_price, "sell")
    # The book knows every order at the broker: the entries pending, their legs as its protective exits.
    assert sorted(o.client_order_id for o in result.state.pending) == sorted(alpaca_server.by_client_id)
    assert sorted(o.client_order_id for o in result.exits) == sorted(
        alpaca_server.orders[i].client_order_id for o in entries.values() for i in o.legs
    )
    assert {(o.order_type, o.parent) for o in result.exits if o.symbol == "AAPL"} == {("stop", aapl.client_order_id)}


def test_the_open_fills_the_entries_and_from_then_on_the_positions_are_protected_at_the_broker(alpaca_server):
    broker = _broker(alpaca_server)
    first = _run(broker, _fresh(), D1, [_order("AAPL", 10), _order("MSFT", 100)])
    alpaca_server.advance_to(_evening(D2))  # D2's open fills both entries; their stops start working
    second = _run(broker, first.state, D2)
    assert [(f.symbol, f.qty, f.price) for f in second.fills] == [
        ("AAPL", 10, pytest.approx(_bar("AAPL", D2)["open"])),
        ("MSFT", 100, pytest.approx(_bar("MSFT", D2)["open"])),
    ]
    assert {s: p.qty for s, p in second.state.positions.items()} == {"AAPL": 10, "MSFT": 100}
    assert {(o.symbol, o.order_type) for o in second.state.pending} == {("AAPL", "stop"), ("MSFT", "stop")}
    assert broker.unprotected(second.state) == {}
    assert alpaca_server.count("POST", "/v2/orders") == 2  # nothing more was needed
    assert alpaca_server.count("PATCH", "/v2/orders") == 0


def test_a_partial_fill_leaves_the_rest_cancelled_next_cycle_and_the_stop_resized_to_what_filled(alpaca_server):
    broker = _broker(alpaca_server)
    aapl = _order("AAPL", 10)
    first = _run(broker, _fresh(), D1, [aapl])
    alpaca_server.partial(aapl.client_order_id, 4)
    alpaca_server.advance_to(_at(D2, 9, 31))  # 4 at the open
    alpaca_server.partial(aapl.client_order_id, 1)
    alpaca_server.advance_to(_evening(D2))  # 1 more during the session; 5 still working at the cycle
    second = _run(broker, first.state, D2)
    assert [(f.symbol, f.qty) for f in second.fills] == [("AAPL", 5)]
    assert second.fills[0].fill_id == execution_fill_id(aapl.client_order_id, 5, 10)  # a partial: its own id
    (event,) = [e for e in second.events if e.rule == "entry_unfilled"]
    assert (event.action, event.value) == ("cancelled", 5)
    assert alpaca_server.order(aapl.client_order_id).status == "canceled"
    (stop,) = _working(alpaca_server, "AAPL")
    assert (stop.type, stop.qty) == ("stop", 5)
    assert [(o.order_type, o.qty) for o in second.state.pending] == [("stop", 5)]
    assert broker.unprotected(second.state) == {}
    again = _run(broker, first.state, D2)  # re-reading the same broker state books the same fills
    assert again.fills == second.fills


def test_an_entry_that_never_trades_is_cancelled_with_its_stop_at_the_next_cycle():
    with AlpacaSandbox(bars=BARS, now=_evening(D1), prices={"ZZZ": 10.0}, serve_future_bars=True) as server:
        broker = _broker(server)
        entry = Order.from_dict({**_order("AAPL", 10).to_dict(), "symbol": "ZZZ", "ref_price": 10.0,
                                 "stop_price": 9.0, "client_order_id": "zzz"})  # fmt: skip
        first = _run(broker, _fresh(), D1, [entry])
        server.advance_to(_evening(D2))  # ZZZ has no bar: nothing trades
        second = _run(broker, first.state, D2)
        assert [(e.rule, e.action, e.value) for e in second.events] == [("entry_unfilled", "cancelled", 10)]
        assert second.state.pending == () and _working(server, "ZZZ") == []


def test_a_pending_order_the_broker_does_not_find_stays_pending_never_cancelled(alpaca_server):
    """A lookup that finds nothing is "unknown, ask again", not "cancelled": the order was acknowledged."""
    broker = _broker(alpaca_server)
    msft = _order("MSFT", 10)
    first = _run(broker, _fresh(), D1, [msft])
    alpaca_server.advance_to(_at(D2, 16, 15))
    not_found = Scripted(404, {"code": 40410000, "message": "order not found"})
    alpaca_server.script("GET", "/v2/orders:by_client_order_id", not_found)
    second = _run(broker, first.state, D2)
    assert msft.client_order_id in [o.client_order_id for o in second.state.pending]
    (event,) = [e for e in second.events if e.rule == "broker_order_not_found"]
    assert event.action == "info" and "asked again" in event.message
    alpaca_server.advance_to(_evening(D3))
    third = _run(broker, second.state, D3)  # asked again: found filled (at D2's open), booked now
    assert [(f.symbol, f.qty) for f in third.fills] == [("MSFT", 10)]
    assert [o.order_type for o in third.state.pending] == ["stop"]


def test_rejections_are_events_not_orders(alpaca_server):
    broker = _broker(alpaca_server)
    orders = [_order("AAPL", 5_000), _order("IBM", 1), _order("HALT", 1)]
    result = _run(broker, _fresh(), D1, orders)
    rules = {(e.symbol, e.rule, e.action) for e in result.events}
    assert rules == {
        ("AAPL", "broker_insufficient_buying_power", "rejected"),
        ("HALT", "broker_not_tradable", "rejected"),
    }
    assert all(e.message.startswith("tp-") for e in result.events)  # each names its order
    assert {o.symbol for o in result.state.pending} == {"IBM"}
    assert {o.symbol for o in alpaca_server.orders.values()} == {"IBM"}  # HALT never reached POST


def test_an_entry_the_exchange_expires_is_reported_cancelled_and_its_held_stop_goes_with_it(alpaca_server):
    broker = _broker(alpaca_server)
    order = _order("MSFT", 7)
    first = _run(broker, _fresh(), D1, [order])
    alpaca_server.expire(order.client_order_id)
    alpaca_server.advance_to(_evening(D2))
    second = _run(broker, first.state, D2)
    assert {(e.rule, e.action, e.value) for e in second.events} == {
        ("broker_expired", "cancelled", 7),
        ("exit_closed", "info", 7),  # the leg it carried: closed with it, said quietly
    }
    assert second.state.pending == () and second.fills == () and _working(alpaca_server, "MSFT") == []


def test_a_crash_between_submitting_and_journaling_then_a_rerun_places_each_order_once(alpaca_server):
    orders = [_order("AAPL", 10), _order("IBM", 5)]
    first = _run(_broker(alpaca_server), _fresh(), D1, orders)  # submitted; the process dies before journaling
    alpaca_server.script("POST", "/v2/orders", Scripted(503, {"code": 50310000, "message": "unavailable"}))
    rerun = _run(_broker(alpaca_server), _fresh(), D1, orders)  # a fresh process re-executes the step
    assert len(alpaca_server.orders) == 4  # two entries, a stop leg each
    assert sorted(o.client_order_id for o in rerun.state.pending) == sorted(alpaca_server.by_client_id)
    assert rerun.state.pending == first.state.pending and rerun.events == ()


def test_a_trailing_stop_is_moved_at_the_broker_after_each_close_and_fills_there(alpaca_server):
    broker = _broker(alpaca_server)
    aapl = _order("AAPL", 10, trail_distance=1.0)
    first = _run(broker, _fresh(), D1, [aapl])
    alpaca_server.advance_to(_evening(D2))
    second = _run(broker, first.state, D2)
    trailed = round_to_tick(_bar("AAPL", D2)["high"] - 1.0, "sell")  # from D2's high, on the tick toward the market
    assert trailed > aapl.stop_price
    (stop,) = _working(alpaca_server, "AAPL")
    assert (stop.type, stop.stop_price, stop.qty) == ("stop", trailed, 10)
    (moved,) = second.exits
    assert (moved.client_order_id, moved.stop_price, moved.session) == (stop.client_order_id, trailed, D2)
    (event,) = [e for e in second.events if e.rule == "exit_replaced"]
    old_leg = event.message.split(":", 1)[0]
    assert alpaca_server.order(old_leg).status == "replaced"
    assert broker.unprotected(second.state) == {}

    assert _bar("AAPL", D3)["low"] < trailed < _bar("AAPL", D3)["open"]  # D3 trades through the moved stop
    alpaca_server.advance_to(_evening(D3))
    third = _run(broker, second.state, D3)
    assert [(f.side, f.qty, f.price) for f in third.fills] == [("sell", 10, trailed)]
    assert third.state.positions == {} and third.state.pending == ()


def test_a_stop_that_fills_while_the_desk_is_down_is_booked_by_the_next_cycle(alpaca_server):
    broker = _broker(alpaca_server)
    d2 = _bar("AAPL", D2)
    stop = round_to_tick(d2["low"] + 0.5, "sell")  # under D2's open, above its low: the exchange hits it
    assert d2["low"] < stop < d2["open"]
    first = _run(broker, _fresh(), D1, [_order("AAPL", 10, stop_price=stop)])
    alpaca_server.advance_to(_evening(D2))  # nobody runs while D2 trades
    second = _run(broker, first.state, D2)
    assert [(f.side, f.qty, f.price) for f in second.fills] == [
        ("buy", 10, pytest.approx(d2["open"])),
        ("sell", 10, stop),
    ]
    assert second.state.positions == {} and second.state.pending == ()
    assert second.state.cash == pytest.approx(100_000.0 - 10 * d2["open"] + 10 * stop)
    assert alpaca_server.account.positions == {}


def test_a_sell_cancels_the_positions_exits_first_so_the_broker_takes_it(alpaca_server):
    broker = _broker(alpaca_server)
    first = _run(broker, _fresh(), D1, [_order("AAPL", 10, take_profit=90.0)])
    alpaca_server.advance_to(_evening(D2))
    sell = _order("AAPL", 10, session=D2, side="sell")
    second = _run(broker, first.state, D2, [sell])
    assert not [e for e in second.events if e.action == "rejected"]
    assert [o.client_order_id for o in _working(alpaca_server, "AAPL")] == [sell.client_order_id]
    assert [o.client_order_id for o in second.state.pending] == [sell.client_order_id]
    assert {e.rule for e in second.events} == {"exit_cancelled"}


def test_a_position_whose_stop_was_cancelled_at_the_broker_is_protected_again(alpaca_server):
    broker = _broker(alpaca_server)
    first = _run(broker, _fresh(), D1, [_order("AAPL", 10)])
    alpaca_server.advance_to(_evening(D2))
    second = _run(broker, first.state, D2)
    (leg,) = _working(alpaca_server, "AAPL")
    alpaca_server.expire(leg.client_order_id, "canceled")  # someone cancels it in Alpaca's dashboard
    assert broker.unprotected(second.state) == {"AAPL": "holds 10, working stops cover 0"}
    alpaca_server.advance_to(_evening(D3))
    third = _run(broker, second.state, D3)
    (stop,) = _working(alpaca_server, "AAPL")
    assert (stop.type, stop.qty, stop.time_in_force) == ("stop", 10, "gtc")
    assert stop.client_order_id == client_order_id(BOOK, D3, "AAPL", "exit:protect")
    assert broker.unprotected(third.state) == {}


def test_a_position_with_a_target_whose_exits_were_cancelled_gets_an_oco_pair_again(alpaca_server):
    broker = _broker(alpaca_server)
    target = _bar("IBM", D1)["close"] * 1.2
    ibm = _order("IBM", 10, take_profit=target)
    first = _run(broker, _fresh(), D1, [ibm])
    alpaca_server.advance_to(_evening(D2))
    second = _run(broker, first.state, D2)
    stop = next(o for o in _working(alpaca_server, "IBM") if o.type == "stop")
    alpaca_server.expire(stop.client_order_id, "canceled")  # cancelled in the dashboard: its partner goes too
    assert _working(alpaca_server, "IBM") == []
    alpaca_server.advance_to(_evening(D3))
    third = _run(broker, second.state, D3)
    (pair,) = [o for o in _working(alpaca_server, "IBM") if o.order_class == "oco" and o.type == "limit"]
    (leg,) = [alpaca_server.orders[i] for i in pair.legs]
    assert (pair.side, pair.qty, pair.time_in_force) == ("sell", 10, "gtc")
    assert pair.limit_price == round_to_tick(target, "sell")
    assert (leg.type, leg.qty, leg.stop_price) == ("stop", 10, round_to_tick(ibm.stop_price, "sell"))
    assert {(o.order_type, o.qty) for o in third.state.pending} == {("limit", 10), ("stop", 10)}
    assert broker.unprotected(third.state) == {}


def test_a_missed_session_is_caught_up_settled_as_it_was_and_its_orders_never_sent(alpaca_server):
    broker = _broker(alpaca_server)
    first = _run(broker, _fresh(), D1, [_order("AAPL", 10)])
    alpaca_server.advance_to(_evening(D3))  # the desk was down at D2's close
    with pytest.raises(SessionGap, match="come before 2012-06-05"):
        _run(broker, first.state, D3)
    late = _order("MSFT", 100, session=D2)
    caught_up = _run(broker, first.state, D2, [late])
    assert [(f.symbol, f.session) for f in caught_up.fills] == [("AAPL", D2)]  # what happened by D2's close
    (event,) = [e for e in caught_up.events if e.rule == "session_caught_up"]
    assert event.message.startswith(late.client_order_id) and "too late" in event.message
    assert alpaca_server.by_client_id.get(late.client_order_id) is None  # never sent
    third = _run(broker, caught_up.state, D3)
    assert third.state.last_session == D3 and broker.unprotected(third.state) == {}


@pytest.mark.parametrize(
    ("moment", "sent"),
    [
        (_at(D1, 15, 59), "refused"),  # D1 still trading
        (_at(D1, 16, 1), "sent"),
        (_at(D2, 9, 27), "sent"),  # still in time for D2's opening auction
        (_at(D2, 9, 29), "caught up"),  # too late: settled, not sent
        (_at(D2, 9, 30), "caught up"),
    ],
)
def test_the_daily_cycle_sends_only_between_the_close_and_the_next_opening_cutoff(moment, sent):
    bars = sample_bars(["AAPL"], "2012-05-01", "2012-06-29")
    with AlpacaSandbox(bars=bars, now=moment, serve_future_bars=True) as server:
        order = _order("AAPL", 1)
        if sent == "refused":
            with pytest.raises(SessionNotCurrent, match="has not closed"):
                _run(_broker(server), _fresh(), D1, [order])
        else:
            result = _run(_broker(server), _fresh(), D1, [order])
            assert (order.client_order_id in server.by_client_id) == (sent == "sent")
            assert any(e.rule == "session_caught_up" for e in result.events) == (sent == "caught up")


@pytest.mark.parametrize(
    ("moment", "sent"),
    [
        (datetime(2012, 7, 3, 13, 15, tzinfo=NEW_YORK), False),  # early close at 13:00: queued only from 16:00
        (datetime(2012, 7, 3, 16, 1, tzinfo=NEW_YORK), True),
        (datetime(2012, 7, 4, 12, 0, tzinfo=NEW_YORK), True),  # Independence Day: the window spans the holiday
        (datetime(2012, 7, 5, 9, 27, tzinfo=NEW_YORK), True),
    ],
)
def test_an_early_close_and_a_holiday_move_the_window(moment, sent):
    day = date(2012, 7, 3)
    bars = sample_bars(["AAPL"], "2012-06-01", "2012-07-31")
    with AlpacaSandbox(bars=bars, now=moment, serve_future_bars=True) as server:
        order = Order.from_dict({**_order("AAPL", 1).to_dict(), "session": day.isoformat(), "client_order_id": "e1"})
        prices = PricePanels.from_bars(bars, [day])
        broker = _broker(server)
        if not sent:
            with pytest.raises(SessionNotCurrent, match="closed early"):
                broker.execute(_fresh(), [day], {day: [order]}, prices)
        else:
            broker.execute(_fresh(), [day], {day: [order]}, prices)
            assert "e1" in server.by_client_id


def test_a_new_book_starts_from_the_accounts_cash_and_refuses_positions_it_did_not_open():
    with AlpacaSandbox(bars=BARS, now=_evening(D1), cash=25_000.0, serve_future_bars=True) as server:
        broker = _broker(server)
        result = _run(broker, _fresh(), D1)  # configured 100,000: the account has 25,000
        assert result.state.cash == 25_000.0 and result.state.peak_equity == 25_000.0
        server.account.submit(
            {"symbol": "IBM", "qty": "3", "side": "buy", "type": "market", "time_in_force": "day"}, server.now, False
        )
        server.advance_to(_evening(D2))
        with pytest.raises(UnknownPositions, match="already holds IBM 3"):
            _run(broker, BookState.initial("another", 1.0), D2)


def test_live_trading_is_refused_without_both_switches(alpaca_server):
    live = AlpacaBroker(api_key=fresh_key(), secret_key=SECRET_KEY, mode="live")  # the live profile, no phrase
    with pytest.raises(LiveTradingRefused, match=f"also needs {LIVE_CONFIRM_VARIABLE}="):
        live.execute(_fresh(), [D1], {D1: [_order("AAPL", 1)]}, _prices(D1))
    with pytest.raises(LiveTradingRefused, match="is Alpaca's live API but the broker trades paper"):
        AlpacaBroker(api_key=fresh_key(), secret_key=SECRET_KEY, trading_url="https://API.Alpaca.Markets").connect()
    with pytest.raises(LiveTradingRefused, match=r"only talks to api\.alpaca\.markets"):
        AlpacaBroker(api_key=fresh_key(), secret_key=SECRET_KEY, mode="live", trading_url=alpaca_server.url).connect()
    assert alpaca_server.requests == []  # nothing was sent


def test_only_one_session_per_run(alpaca_server):
    with pytest.raises(ValueError, match="one session per run"):
        _broker(alpaca_server).execute(_fresh(), [D1, D2], {}, PricePanels.from_bars(BARS, [D1, D2]))
    assert alpaca_server.count("POST", "/v2/orders") == 0


# ---- through Dagster ---------------------------------------------------------------------------------------------
def _cycle_server(day: date) -> AlpacaSandbox:
    bars = sample_bars(["AAPL", "FB", "GOOG", "IBM", "MSFT"], "2012-06-01", "2012-07-31")
    return AlpacaSandbox(bars=bars, now=_evening(day))  # prices: each symbol's last close by the clock


def _check(result, name: str = "positions_reconciled"):
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def test_one_daily_cycle_through_dagster_places_the_journaled_orders_at_alpaca(instance):
    """The whole cycle for 2012-06-29 (it buys FB) with AlpacaBroker; then a manual trade breaks reconciliation."""
    trading = TradingBook(book="alpaca-paper")
    with _cycle_server(date(2012, 6, 29)) as server:
        broker = _broker(server)
        run = run_cycle(instance, "2012-06-29", "2012-06-29", broker=broker, trading=trading)
        assert run.result.success
        orders = run.table("orders")
        assert len(orders) >= 2 and set(orders["status"]) == {"submitted"}
        assert sorted(server.by_client_id) == sorted(orders["client_order_id"])  # journal and broker agree
        assert "stop" in set(orders["order_type"]) <= {"market", "stop", "limit"}  # entries, their stops (targets)
        assert {o.time_in_force for o in server.orders.values()} == {"gtc"}
        check = _check(run.result)
        assert check.passed and check.metadata["compared_with"].value == "journal fills, broker"
        assert _check(run.result, "positions_protected").passed
        assert run.journal.read_backtests(trading.book).empty  # a trading book's cycle is no backtest

        entry = orders[orders["order_type"] == "market"]["client_order_id"].iloc[0]
        server.fill(entry, 1.0, 31.0)  # an execution the journal has not seen yet
        check = _check(_check_alone(instance, broker, trading, "2012-06-29"))
        assert not check.passed
        assert "broker" in check.metadata["details"].value


def test_the_next_cycle_books_alpacas_fills_and_reconciles(instance):
    trading = TradingBook(book="alpaca-paper")
    with _cycle_server(date(2012, 6, 29)) as server:
        first = run_cycle(instance, "2012-06-29", "2012-06-29", broker=_broker(server), trading=trading)
        entries = first.table("orders").query("order_type == 'market'")
        server.advance_to(_evening(date(2012, 7, 2)))  # Alpaca fills them at the next open
        run = run_cycle(instance, "2012-07-02", "2012-07-02", broker=_broker(server), trading=trading)
        assert run.result.success
        fills = run.table("fills")
        assert sorted(fills["client_order_id"]) == sorted(entries["client_order_id"])
        journaled = run.journal.read("orders", book=trading.book, end="2012-06-29").set_index("client_order_id")
        assert set(journaled.loc[entries["client_order_id"], "status"]) == {"filled"}
        assert _check(run.result).passed and _check(run.result, "positions_protected").passed


def test_a_cycle_that_dies_before_journaling_is_rerun_without_a_second_order(instance, monkeypatch):
    """Through Dagster: the orders reach Alpaca, the journal write fails, the step is re-executed."""
    trading = TradingBook(book="alpaca-crash")
    with _cycle_server(date(2012, 6, 29)) as server:
        replace = BookJournal.replace

        def crash(self, table, *args, **kwargs):
            if table == "orders":
                raise JournalError("journal sqlite:///…: cannot replace orders: OperationalError: disk I/O error")
            return replace(self, table, *args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(BookJournal, "replace", crash)
            crashed = run_cycle(instance, "2012-06-29", "2012-06-29", broker=_broker(server), trading=trading)
        assert not crashed.result.success
        placed = dict(server.by_client_id)
        assert placed and crashed.table("orders").empty  # at the broker, not in the journal

        rerun = run_cycle(instance, "2012-06-29", "2012-06-29", broker=_broker(server), trading=trading)
        assert rerun.result.success
        assert server.by_client_id == placed and len(server.orders) == len(placed)  # exactly one order each
        assert sorted(rerun.table("orders")["client_order_id"]) == sorted(placed)
        assert _check(rerun.result).passed


def _check_alone(instance, broker, trading, day):
    return materialize(
        [*ASSETS, *CHECKS],
        selection=AssetSelection.checks(positions_reconciled),
        instance=instance,
        resources={**DEFAULT_RESOURCES, "broker": broker, "trading": trading},
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": day, "dagster/asset_partition_range_end": day},
    )


def test_fill_ids_are_the_simulators_when_an_order_fills_at_once():
    assert execution_fill_id("tp-x", 10, 10) == fill_id("tp-x")
    assert execution_fill_id("tp-x", 4, 10) != execution_fill_id("tp-x", 10, 10)


def _report_metadata(result) -> dict:
    (materialization,) = [
        m
        for m in result.asset_materializations_for_node("performance_report")
        if m.asset_key.path == ["performance_report"]
    ]
    return materialization.metadata


def test_a_trading_books_tearsheet_is_drawn_by_the_weekly_job_not_by_its_cycles(instance):
    trading = TradingBook(book="alpaca-weekly")
    resources = {**DEFAULT_RESOURCES, "trading": trading}
    folder = Path(instance.root_directory) / "trading_pipeline" / "reports" / trading.book

    with _cycle_server(date(2012, 6, 29)) as server:
        run = run_cycle(instance, "2012-06-29", "2012-06-29", tearsheet=True, broker=_broker(server), trading=trading)
        assert run.result.success
        assert _op_metadata(weekly_tearsheet_job.execute_in_process(instance=instance, resources=resources))[
            "tearsheet"
        ].startswith("none: book 'alpaca-weekly' has 1 session(s) of equity")
        server.advance_to(_evening(date(2012, 7, 2)))
        run = run_cycle(instance, "2012-07-02", "2012-07-02", tearsheet=True, broker=_broker(server), trading=trading)
        assert run.result.success
        said = _report_metadata(run.result)["tearsheet"].value
        assert (
            said.startswith("weekly for a trading book: the weekly_tearsheet job draws it") and "none drawn yet" in said
        )
        assert not (folder / "tearsheet.html").exists()  # the cycle drew none
        drawn = _op_metadata(weekly_tearsheet_job.execute_in_process(instance=instance, resources=resources))
        assert drawn["through"] == "2012-07-02" and drawn["sessions"] == 2
        assert "Cumulative Returns" in (folder / "tearsheet.html").read_text()
        server.advance_to(_evening(date(2012, 7, 3)))
        run = run_cycle(instance, "2012-07-03", "2012-07-03", tearsheet=True, broker=_broker(server), trading=trading)
        assert f"the last one: {folder / 'tearsheet.html'}" in _report_metadata(run.result)["tearsheet"].value
    assert weekly_tearsheet_schedule.cron_schedule == "0 6 * * 6"  # Saturdays, after the week's last cycle
    assert weekly_tearsheet_schedule.execution_timezone == "America/New_York"


def _op_metadata(result) -> dict:
    outputs = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return {k: getattr(v, "value", v) for k, v in outputs[-1].step_output_data.metadata.items()}


def test_a_first_live_cycle_has_no_tearsheet_and_a_report_failure_never_fails_a_cycle_whose_orders_left(
    instance, monkeypatch
):
    trading = TradingBook(book="alpaca-report")
    with _cycle_server(date(2012, 6, 29)) as server:
        run = run_cycle(instance, "2012-06-29", "2012-06-29", tearsheet=True, broker=_broker(server), trading=trading)
        assert run.result.success
        assert "none drawn yet" in _report_metadata(run.result)["tearsheet"].value

        def broken(*args, **kwargs):
            raise OSError("disk full")

        monkeypatch.setattr("trading_pipeline.defs.reporting.performance_report._report", broken)
        server.advance_to(_evening(date(2012, 7, 2)))
        second = run_cycle(instance, "2012-07-02", "2012-07-02", broker=_broker(server), trading=trading)
        assert second.result.success  # its orders are at the broker and journaled
        assert _report_metadata(second.result)["report_error"].value == "OSError: disk full"
        assert not second.table("fills").empty and run.journal.read_backtests(trading.book).empty
        offline = run_cycle(instance, "2012-06-29", "2012-06-29", trading=TradingBook(book="sim-report"))
        assert not offline.result.success  # a backtest's report is its result: its failure fails the run
