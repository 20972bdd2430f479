"""AlpacaBroker: the live cycle's session against the local Alpaca, idempotent, guarded, fully accounted."""

from datetime import date, datetime

import pytest
from dagster import AssetSelection, materialize

from trading_pipeline.definitions import ASSETS, CHECKS, DEFAULT_RESOURCES
from trading_pipeline.defs.execution.reconciliation import positions_reconciled
from trading_pipeline.defs.resources.alpaca_broker import AlpacaBroker, SessionNotCurrent, execution_fill_id
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.domain.book import BookState, Order, client_order_id, fill_id
from trading_pipeline.domain.engine import PricePanels
from trading_pipeline.integrations.alpaca_trading import LIVE_CONFIRM_VARIABLE, LiveTradingRefused
from trading_pipeline.journal import JournalError
from trading_pipeline.journal.books import BookJournal
from trading_pipeline.sandbox.alpaca_server import NEW_YORK, SECRET_KEY, AlpacaSandbox, Scripted
from trading_pipeline_tests.cycles import run_cycle
from trading_pipeline_tests.fakes.alpaca_fixtures import alpaca_server, fresh_key, sample_bars  # noqa: F401

BOOK = "alpaca-test"
D1, D2, D3 = date(2012, 6, 1), date(2012, 6, 4), date(2012, 6, 5)
BARS = sample_bars(["AAPL", "IBM", "MSFT"], "2012-05-01", "2012-06-29")


def _after_close(day: date) -> datetime:
    """19:30: Alpaca takes opg orders for the next open only from 19:00 (and until 09:28)."""
    return datetime(day.year, day.month, day.day, 19, 30, tzinfo=NEW_YORK)


def _broker(server, **config) -> AlpacaBroker:
    return AlpacaBroker(
        api_key=fresh_key(),
        secret_key=SECRET_KEY,
        trading_url=server.url,
        max_attempts=3,
        retry_base_delay_s=0.01,
        **config,
    )


def _order(symbol: str, qty: float, session: date = D1, side: str = "buy") -> Order:
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
        stop_price=close * 0.95,
        atr=1.0,
        confidence=0.6,
        strategy="TrendFollowing",
        reason="test",
        equity_at_decision=100_000.0,
        cash_at_decision=100_000.0,
        position_qty_before=0.0,
        open_positions_before=0,
    )


def _prices(day: date) -> PricePanels:
    return PricePanels.from_bars(BARS, [day])


def _run(broker: AlpacaBroker, book: BookState, day: date, orders: list[Order] = ()):
    (result,) = broker.execute(book, [day], {day: list(orders)} if orders else {}, _prices(day))
    return result


@pytest.fixture(autouse=True)
def _paper(monkeypatch):
    monkeypatch.delenv(LIVE_CONFIRM_VARIABLE, raising=False)


def test_orders_are_placed_for_the_next_open_and_wait_pending(alpaca_server):
    broker = _broker(alpaca_server)
    assert broker.mode == "paper"
    orders = [_order("AAPL", 10), _order("IBM", 5)]
    result = _run(broker, BookState.initial(BOOK, 100_000.0), D1, orders)
    assert [o.client_order_id for o in result.state.pending] == [o.client_order_id for o in orders]
    assert result.fills == () and result.events == ()
    assert result.state.cash == 100_000.0 and result.state.last_session == D1
    placed = {o.client_order_id: o for o in alpaca_server.orders.values()}
    assert set(placed) == {o.client_order_id for o in orders}
    assert {o.time_in_force for o in placed.values()} == {"day"}  # queued after the close for the next open


def test_a_pending_order_the_broker_does_not_find_stays_pending_never_cancelled(alpaca_server):
    """A lookup that finds nothing is "unknown, ask again", not "cancelled": the order was acknowledged."""
    broker = _broker(alpaca_server)
    aapl = _order("AAPL", 10)
    first = _run(broker, BookState.initial(BOOK, 100_000.0), D1, [aapl])
    alpaca_server.now = _after_close(D2)
    not_found = Scripted(404, {"code": 40410000, "message": "order not found"})
    alpaca_server.script("GET", "/v2/orders:by_client_order_id", not_found)
    second = _run(broker, first.state, D2)
    assert [o.client_order_id for o in second.state.pending] == [aapl.client_order_id]
    (event,) = second.events
    assert (event.rule, event.action) == ("broker_order_not_found", "info") and "asked again" in event.message
    alpaca_server.fill(aapl.client_order_id, 10, 81.0)
    alpaca_server.now = _after_close(D3)
    third = _run(broker, second.state, D3)  # asked again: found, filled, booked
    assert [(f.symbol, f.qty) for f in third.fills] == [("AAPL", 10)] and third.state.pending == ()


def test_a_partial_fill_then_a_fill_are_booked_once_each(alpaca_server):
    broker = _broker(alpaca_server)
    aapl, ibm = _order("AAPL", 10), _order("IBM", 5)
    first = _run(broker, BookState.initial(BOOK, 100_000.0), D1, [aapl, ibm])

    alpaca_server.now = _after_close(D2)
    alpaca_server.fill(aapl.client_order_id, 10, 81.0)
    alpaca_server.fill(ibm.client_order_id, 2, 160.0)
    second = _run(broker, first.state, D2)
    assert [(f.symbol, f.qty, f.price) for f in second.fills] == [("AAPL", 10, 81.0), ("IBM", 2, 160.0)]
    assert second.fills[0].fill_id == fill_id(aapl.client_order_id)  # filled at once: the simulator's id
    assert [(o.symbol, o.qty) for o in second.state.pending] == [("IBM", 3)]  # the rest still works
    assert {s: p.qty for s, p in second.state.positions.items()} == {"AAPL": 10, "IBM": 2}
    assert second.state.cash == pytest.approx(100_000.0 - 810.0 - 320.0)
    assert _run(broker, first.state, D2).fills == second.fills  # re-reading the same broker state: same fills

    alpaca_server.now = _after_close(D3)
    alpaca_server.fill(ibm.client_order_id, 3, 161.0)
    third = _run(broker, second.state, D3)
    # Alpaca's order reports only the cumulative average (2 @ 160, 3 @ 161 -> 160.6); the rest is booked at it.
    assert [(f.symbol, f.qty, f.price) for f in third.fills] == [("IBM", 3, pytest.approx(160.6))]
    assert third.fills[0].fill_id == execution_fill_id(ibm.client_order_id, 5, 5)
    assert second.fills[1].fill_id != third.fills[0].fill_id
    assert third.state.pending == () and third.state.positions["IBM"].qty == 5
    assert broker.broker_positions() == {"AAPL": 10.0, "IBM": 5.0}


def test_rejections_are_events_not_orders(alpaca_server):
    broker = _broker(alpaca_server)
    orders = [_order("AAPL", 5_000), _order("IBM", 1), _order("HALT", 1)]
    result = _run(broker, BookState.initial(BOOK, 100_000.0), D1, orders)
    rules = {(e.symbol, e.rule, e.action) for e in result.events}
    assert rules == {
        ("AAPL", "broker_insufficient_buying_power", "rejected"),
        ("HALT", "broker_not_tradable", "rejected"),
    }
    assert all(e.message.startswith("tp-") for e in result.events)  # each names its order
    assert [o.symbol for o in result.state.pending] == ["IBM"]
    assert [o.symbol for o in alpaca_server.orders.values()] == ["IBM"]  # HALT never reached POST


def test_an_order_the_exchange_expires_is_reported_cancelled(alpaca_server):
    broker = _broker(alpaca_server)
    order = _order("MSFT", 7)
    first = _run(broker, BookState.initial(BOOK, 100_000.0), D1, [order])
    alpaca_server.now = _after_close(D2)
    alpaca_server.expire(order.client_order_id)
    second = _run(broker, first.state, D2)
    (event,) = second.events
    assert (event.rule, event.action, event.value) == ("broker_expired", "cancelled", 7)
    assert second.state.pending == () and second.fills == ()


def test_a_crash_between_submitting_and_journaling_then_a_rerun_places_each_order_once(alpaca_server):
    orders = [_order("AAPL", 10), _order("IBM", 5)]
    book = BookState.initial(BOOK, 100_000.0)
    _run(_broker(alpaca_server), book, D1, orders)  # submitted; the process dies before journaling
    alpaca_server.script("POST", "/v2/orders", Scripted(503, {"code": 50310000, "message": "unavailable"}))
    rerun = _run(_broker(alpaca_server), book, D1, orders)  # a fresh process re-executes the step
    assert len(alpaca_server.orders) == 2
    assert sorted(alpaca_server.by_client_id) == sorted(o.client_order_id for o in orders)
    assert [o.client_order_id for o in rerun.state.pending] == [o.client_order_id for o in orders]
    assert rerun.events == ()


def test_live_trading_is_refused_without_both_switches(alpaca_server):
    live = AlpacaBroker(api_key=fresh_key(), secret_key=SECRET_KEY, mode="live")  # the live profile, no phrase
    with pytest.raises(LiveTradingRefused, match=f"also needs {LIVE_CONFIRM_VARIABLE}="):
        live.execute(BookState.initial(BOOK, 1e5), [D1], {D1: [_order("AAPL", 1)]}, _prices(D1))
    with pytest.raises(LiveTradingRefused, match="is Alpaca's live API but the broker trades paper"):
        AlpacaBroker(api_key=fresh_key(), secret_key=SECRET_KEY, trading_url="https://API.Alpaca.Markets").connect()
    assert alpaca_server.requests == []  # nothing was sent


def test_only_the_current_session_and_only_one_session(alpaca_server):
    broker = _broker(alpaca_server)
    book = BookState.initial(BOOK, 100_000.0)
    with pytest.raises(ValueError, match="one session per run"):
        broker.execute(book, [D1, D2], {}, PricePanels.from_bars(BARS, [D1, D2]))
    alpaca_server.now = _after_close(D2)
    with pytest.raises(SessionNotCurrent, match="latest closed session is 2012-06-04"):
        _run(broker, book, D1, [_order("AAPL", 1)])
    alpaca_server.now = datetime(2012, 6, 4, 15, 0, tzinfo=NEW_YORK)  # D2 still trading: D1's orders would be late
    with pytest.raises(SessionNotCurrent):
        _run(broker, book, D1, [_order("AAPL", 1)])
    assert alpaca_server.count("POST", "/v2/orders") == 0


def _cycle_server(day: date) -> AlpacaSandbox:
    bars = sample_bars(["AAPL", "FB", "GOOG", "IBM", "MSFT"], "2012-06-01", "2012-07-31")
    return AlpacaSandbox(bars=bars, now=_after_close(day))  # prices: each symbol's last close by the clock


def test_one_daily_cycle_through_dagster_places_the_journaled_orders_at_alpaca(instance):
    """The whole cycle for 2012-06-29 (it buys FB) with AlpacaBroker; then a manual trade breaks reconciliation."""
    trading = TradingBook(book="alpaca-paper")
    with _cycle_server(date(2012, 6, 29)) as server:
        broker = _broker(server)
        run = run_cycle(instance, "2012-06-29", "2012-06-29", broker=broker, trading=trading)
        assert run.result.success
        orders = run.table("orders")
        assert len(orders) >= 1 and set(orders["status"]) == {"submitted"}
        assert sorted(server.by_client_id) == sorted(orders["client_order_id"])  # journal and broker agree
        assert {o.time_in_force for o in server.orders.values()} == {"day"}
        check = _check(run.result)
        assert check.passed and check.metadata["compared_with"].value == "journal fills, broker"

        server.fill(orders["client_order_id"].iloc[0], 1.0, 31.0)  # an execution the journal has not seen yet
        check = _check(_check_alone(instance, broker, trading, "2012-06-29"))
        assert not check.passed
        assert orders["symbol"].iloc[0] in check.metadata["details"].value
        assert "broker" in check.metadata["details"].value


def test_the_next_cycle_books_alpacas_fills_and_reconciles(instance):
    trading = TradingBook(book="alpaca-paper")
    with _cycle_server(date(2012, 6, 29)) as server:
        first = run_cycle(instance, "2012-06-29", "2012-06-29", broker=_broker(server), trading=trading)
        orders = first.table("orders")
        opens = sample_bars(["AAPL", "FB", "GOOG", "IBM", "MSFT"], "2012-07-02", "2012-07-02").set_index("symbol")[
            "open"
        ]
        for coid, symbol, qty in zip(orders["client_order_id"], orders["symbol"], orders["qty"], strict=True):
            server.fill(coid, qty, float(opens[symbol]))  # Alpaca fills them at the next open
        server.now = _after_close(date(2012, 7, 2))
        run = run_cycle(instance, "2012-07-02", "2012-07-02", broker=_broker(server), trading=trading)
        assert run.result.success
        fills = run.table("fills")
        assert sorted(fills["client_order_id"]) == sorted(orders["client_order_id"])
        assert set(run.journal.read("orders", book=trading.book, end="2012-06-29")["status"]) == {"filled"}
        assert _check(run.result).passed


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


def _check(result):
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "positions_reconciled"]
    return evaluation


def _check_alone(instance, broker, trading, day):
    return materialize(
        [*ASSETS, *CHECKS],
        selection=AssetSelection.checks(positions_reconciled),
        instance=instance,
        resources={**DEFAULT_RESOURCES, "broker": broker, "trading": trading},
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": day, "dagster/asset_partition_range_end": day},
    )
