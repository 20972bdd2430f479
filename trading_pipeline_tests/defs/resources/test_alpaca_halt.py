"""The kill switch at the local Alpaca: a halt cancels the book's open entries there and, to flatten, sells each
position at market under deterministic ids (never twice); the next cycle books what Alpaca did. An account's
broker reads its keys from the account's variables."""

from datetime import date, datetime

import pytest

from trading_pipeline.definitions import defs
from trading_pipeline.defs.resources.alpaca_broker import AlpacaBroker, SessionNotCurrent
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.domain.book import BookState, Order, client_order_id
from trading_pipeline.domain.engine import PricePanels
from trading_pipeline.domain.risk.accounts import Account
from trading_pipeline.integrations.alpaca_client import AlpacaRequestError
from trading_pipeline.integrations.alpaca_trading import LIVE_CONFIRM_VARIABLE
from trading_pipeline.journal.halts import active_halt
from trading_pipeline.sandbox.alpaca_server import NEW_YORK, SECRET_KEY, AlpacaSandbox
from trading_pipeline_tests.cycles import run_cycle
from trading_pipeline_tests.defs.execution.test_halts import failure, switch
from trading_pipeline_tests.fakes.alpaca_fixtures import alpaca_server, fresh_key, sample_bars  # noqa: F401

BOOK = "alpaca-halt"
D1, D2, D3 = date(2012, 6, 1), date(2012, 6, 4), date(2012, 6, 5)
BARS = sample_bars(["AAPL", "IBM", "MSFT"], "2012-05-01", "2012-06-29")


@pytest.fixture(autouse=True)
def _paper(monkeypatch):
    monkeypatch.delenv(LIVE_CONFIRM_VARIABLE, raising=False)


def _after_close(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 19, 30, tzinfo=NEW_YORK)


def _broker(server) -> AlpacaBroker:
    return AlpacaBroker(
        api_key=fresh_key(), secret_key=SECRET_KEY, trading_url=server.url, max_attempts=3, retry_base_delay_s=0.01
    )


def _buy(symbol: str, qty: float, session: date) -> Order:
    close = float(BARS[(BARS["symbol"] == symbol) & (BARS["date"] == str(session))]["close"].iloc[0])
    return Order(
        client_order_id=client_order_id(BOOK, session, symbol, "buy"),
        book=BOOK,
        session=session,
        symbol=symbol,
        side="buy",
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


def _session(broker: AlpacaBroker, state: BookState, day: date, orders: list[Order] = ()):
    (result,) = broker.execute(state, [day], {day: list(orders)}, PricePanels.from_bars(BARS, [day]))
    return result


def _holding_with_an_entry(server) -> BookState:
    """AAPL 10 and IBM 5 held (bought on D1, filled at D2's open, their stops working), a MSFT buy of D2 waiting
    for D3's open."""
    first = _session(
        _broker(server), BookState.initial(BOOK, 100_000.0), D1, [_buy("AAPL", 10, D1), _buy("IBM", 5, D1)]
    )
    server.advance_to(_after_close(D2))
    return _session(_broker(server), first.state, D2, [_buy("MSFT", 7, D2)]).state


def _entry(state: BookState) -> str:
    (entry,) = [o.client_order_id for o in state.pending if o.side == "buy"]
    return entry


def _open(server, symbol: str) -> float:
    return float(BARS[(BARS["symbol"] == symbol) & (BARS["date"] == str(D3))]["open"].iloc[0])


def test_a_halt_cancels_the_entries_at_alpaca_and_flattens_once_and_the_next_cycle_books_it(alpaca_server):
    server, broker = alpaca_server, _broker(alpaca_server)
    state = _holding_with_an_entry(server)
    assert {s: p.qty for s, p in state.positions.items()} == {"AAPL": 10, "IBM": 5}
    entry = _entry(state)

    after, events = broker.cancel_entries(state)
    assert after == state  # the next settlement books what Alpaca did with it
    assert server.order(entry).status == "canceled"
    assert [(e.symbol, e.rule, e.action, e.value) for e in events] == [("MSFT", "halted", "cancelled", 7)]

    flat, placed, refused = broker.flatten(after)
    ids = {s: client_order_id(BOOK, D2, s, "halt:flatten") for s in ("AAPL", "IBM")}
    assert refused == [e for e in refused if e.rule == "exit_cancelled"]  # only the stops made way, nothing refused
    assert [(o.client_order_id, o.side, o.qty) for o in placed] == [(ids["AAPL"], "sell", 10), (ids["IBM"], "sell", 5)]
    at_alpaca = [server.order(i) for i in ids.values()]
    assert [(o.side, o.type, o.time_in_force, o.qty) for o in at_alpaca] == [
        ("sell", "market", "day", 10),
        ("sell", "market", "day", 5),
    ]
    working = {(o.symbol, o.type) for o in server.orders.values() if o.is_open}
    assert working == {("AAPL", "market"), ("IBM", "market")}  # the stops were cancelled to make way
    assert {o.client_order_id for o in flat.pending} >= {entry, *ids.values()}
    orders_at_alpaca = len(server.orders)
    assert broker.flatten(flat)[1] == []  # flattened already: the pending sells cover every share
    # A run that placed the sells and died before journaling them is retried: Alpaca's orders are found, not doubled.
    assert [o.client_order_id for o in _broker(server).flatten(after)[1]] == list(ids.values())
    assert len(server.orders) == orders_at_alpaca

    server.advance_to(_after_close(D3))  # the sells fill at D3's open
    booked = _session(broker, flat, D3)
    assert sorted((f.symbol, f.side, f.qty, f.price) for f in booked.fills) == [
        ("AAPL", "sell", 10, pytest.approx(_open(server, "AAPL"))),
        ("IBM", "sell", 5, pytest.approx(_open(server, "IBM"))),
    ]
    assert booked.state.positions == {} and booked.state.pending == ()
    assert ("MSFT", "broker_canceled", "cancelled") in [(e.symbol, e.rule, e.action) for e in booked.events]


@pytest.mark.parametrize(
    ("moment", "allowed"),
    [
        (datetime(2012, 6, 5, 9, 29, tzinfo=NEW_YORK), False),  # past the auction cutoff, before the open
        (datetime(2012, 6, 5, 9, 30, tzinfo=NEW_YORK), True),
        (datetime(2012, 6, 5, 15, 59, tzinfo=NEW_YORK), True),
        (datetime(2012, 6, 5, 16, 1, tzinfo=NEW_YORK), True),  # queued for the next open
        (datetime(2012, 7, 3, 13, 15, tzinfo=NEW_YORK), False),  # early close: nothing queues before 16:00
        (datetime(2012, 7, 4, 12, 0, tzinfo=NEW_YORK), True),  # the holiday: queued for July 5th's open
    ],
)
def test_flattening_orders_leave_only_when_the_market_or_its_next_open_takes_them(moment, allowed):
    bars = sample_bars(["AAPL"], "2012-05-01", "2012-07-31")
    with AlpacaSandbox(bars=bars, now=moment, serve_future_bars=True) as server:
        server.account.submit(
            {"symbol": "AAPL", "qty": "3", "side": "buy", "type": "market", "time_in_force": "day"}, moment, True
        )
        server.account.fill(next(iter(server.orders.values())), 3, 80.0, moment)
        state = BookState.from_dict(
            {
                **BookState.initial(BOOK, 100_000.0).to_dict(),
                "cash": 99_760.0,
                "last_session": str(D2),
                "positions": {
                    "AAPL": {
                        "symbol": "AAPL",
                        "qty": 3,
                        "avg_price": 80.0,
                        "last_price": 80.0,
                        "entry_session": str(D1),
                        "stop": 70.0,
                    }
                },
            }
        )
        broker = _broker(server)
        if allowed:
            _, placed, _ = broker.flatten(state)
            assert [o.qty for o in placed] == [3]
        else:
            with pytest.raises(SessionNotCurrent, match="cannot be flattened now"):
                broker.flatten(state)
            assert server.count("POST", "/v2/orders") == 0


def test_an_entry_alpaca_filled_before_the_cancel_is_reported_not_cancelled(alpaca_server):
    state = _holding_with_an_entry(alpaca_server)
    alpaca_server.fill(_entry(state), 7, 28.0)
    _, (event,) = _broker(alpaca_server).cancel_entries(state)
    assert (event.symbol, event.action) == ("MSFT", "info") and "Alpaca reports the order filled" in event.message


def test_an_accounts_broker_reads_the_keys_from_the_accounts_variables(alpaca_server, monkeypatch):
    account = Account(name="second", key_variable="SECOND_ALPACA_KEY", secret_variable="SECOND_ALPACA_SECRET")
    monkeypatch.setenv("ALPACA_API_KEY", "not-a-key")  # the default account's keys are not read
    monkeypatch.setenv("ALPACA_SECRET_KEY", "not-a-secret")
    monkeypatch.setenv("SECOND_ALPACA_KEY", fresh_key())
    monkeypatch.setenv("SECOND_ALPACA_SECRET", SECRET_KEY)
    broker = AlpacaBroker.for_account(account, trading_url=alpaca_server.url, max_attempts=1)
    assert broker.process_config_and_initialize().connect().account().status == "ACTIVE"
    monkeypatch.setenv("SECOND_ALPACA_SECRET", "wrong")
    refused = AlpacaBroker.for_account(account, trading_url=alpaca_server.url, max_attempts=1)
    with pytest.raises(AlpacaRequestError, match="401"):
        refused.process_config_and_initialize().connect().account()


def test_the_halt_job_cancels_a_paper_books_entry_at_alpaca_with_its_own_broker_only(instance):
    """A paper book is halted with the broker that trades it; with another, the halt stands but nothing is
    cancelled in the wrong place."""
    trading = TradingBook(book="alpaca-paper")
    bars = sample_bars(["AAPL", "FB", "GOOG", "IBM", "MSFT"], "2012-06-01", "2012-07-31")
    with AlpacaSandbox(bars=bars, now=_after_close(date(2012, 6, 29))) as server:
        run = run_cycle(instance, "2012-06-29", "2012-06-29", broker=_broker(server), trading=trading)
        (entry,) = run.table("orders").query("order_type == 'market'")["client_order_id"]

        wrong = switch(instance, "halt_trading_job", trading, operator="ops", reason="outage")  # the simulator
        assert not wrong.success
        assert "it is a paper book and this run's broker is simulated: nothing was cancelled" in failure(wrong)
        assert active_halt(run.journal, trading.book) is not None and server.order(entry).status == "accepted"
        assert switch(instance, "resume_trading_job", trading, operator="ops", reason="retry").success

        halted = defs.get_job_def("halt_trading_job").execute_in_process(
            instance=instance,
            run_config={"ops": {"halt_trading": {"config": {"operator": "ops", "reason": "outage"}}}},
            resources={"trading": trading, "journal": JournalResource(), "broker": _broker(server)},
        )
        assert halted.success and server.order(entry).status == "canceled"
        events = run.table("risk_events")
        cancelled = events[events["source"].str.startswith("halt:") & (events["action"] == "cancelled")]
        assert cancelled["message"].str.startswith(entry).all() and len(cancelled) == 1
