"""Ten sessions of paper trading against the local Alpaca, with faults, then audited from the outside.

The desk is the paper profile's Definitions; its daily and intraday schedules and its order-status sensor are
evaluated at chosen instants and each run they ask for is executed through the Dagster instance, while the
sandbox's clock moves through 2012-08-16 .. 2012-08-29 (entries fill at the opens, exits on the bars). Faults:
bursts of 429 and 500 on the orders endpoint, a missed daily run caught up the next day, a restart between the
broker's acceptance and the journal, a partial fill, a rejection, and a stop that fills while the desk is down.
At the end the broker, the journal and an offline replay must agree.
"""

from dataclasses import replace
from datetime import date, time, timedelta
from itertools import pairwise

import pandas as pd
import pytest
from dagster import AssetKey, instance_for_test

from trading_pipeline.definitions import defs as offline_defs
from trading_pipeline.defs.resources.alpaca_broker import AlpacaBroker
from trading_pipeline.defs.resources.market_data import ReplayMarketData
from trading_pipeline.domain import calendar
from trading_pipeline.domain.book import BookState
from trading_pipeline.domain.engine import sizing_decider
from trading_pipeline.domain.protection import is_exit
from trading_pipeline.domain.risk.breaker import update_risk_state
from trading_pipeline.domain.sectors import load_sector_map
from trading_pipeline.journal.books import BookJournal
from trading_pipeline.journal.store import JournalError
from trading_pipeline.sandbox.alpaca_server import AlpacaSandbox, Scripted
from trading_pipeline_tests.cycles import run_cycle
from trading_pipeline_tests.fakes.alpaca_fixtures import sample_bars
from trading_pipeline_tests.faults.paper_desk import PaperDesk, at

SYMBOLS = ["AAPL", "GOOG", "IBM", "MSFT"]
SESSIONS = [d.date() for d in calendar.sessions("2012-08-16", "2012-08-29")]
MISSED = date(2012, 8, 21)  # nobody runs the daily cycle that evening
# Tight enough that the breaker trips and resumes, and a daily loss blocks buys, inside ten quiet sessions.
LIMITS = {"max_daily_loss": 0.0025, "max_drawdown": 0.0025, "resume_drawdown": 0.001}
BROKER_TO_JOURNAL = {"filled": "filled", "canceled": "cancelled", "expired": "cancelled", "replaced": "replaced",
                     "new": "submitted", "accepted": "submitted", "held": "submitted", "partially_filled": "submitted"}  # fmt: skip


@pytest.fixture(scope="module")
def soak(tmp_path_factory):
    """Run the ten sessions once (about a minute); the tests below audit what they left."""
    bars = sample_bars(SYMBOLS, "2011-01-01", "2012-12-31")
    monkeypatch = pytest.MonkeyPatch()
    with (
        instance_for_test(temp_dir=str(tmp_path_factory.mktemp("soak_home"))) as instance,
        AlpacaSandbox(bars=bars, now=at(SESSIONS[0], time(9, 0))) as server,
    ):
        desk = PaperDesk(instance, server, SYMBOLS, limits=LIMITS)
        for name, value in desk.env.items():
            monkeypatch.setenv(name, value)  # the resources' EnvVars resolve at launch, as in a deployment
        faults = _trade(desk, monkeypatch)
        yield desk, faults, bars
    monkeypatch.undo()


def _entry(desk: PaperDesk, session: date, symbol: str) -> str:
    orders = desk.table("orders")
    chosen = orders[(orders["session"] == pd.Timestamp(session)) & (orders["symbol"] == symbol)]
    (coid,) = chosen[(chosen["side"] == "buy") & (chosen["order_type"] == "market")]["client_order_id"]
    return coid


_REPLACE = BookJournal.replace


def _crash_on_orders(self, table, *args, **kwargs):
    """The process dies after Alpaca accepted the orders, before the journal recorded them."""
    if table == "orders":
        raise JournalError("journal: cannot replace orders: the process was killed")
    return _REPLACE(self, table, *args, **kwargs)


def _trade(desk: PaperDesk, monkeypatch) -> dict:
    """The ten sessions, the faults injected on the way; returns what each fault did."""
    server, faults = desk.server, {}
    for day in SESSIONS:
        if day == date(2012, 8, 29):  # the desk is down all day; AAPL's stop executes 50 shares at 11:00
            desk.move_to(at(day, time(11, 0)))
            (stop,) = [o for o in server.orders.values() if o.symbol == "AAPL" and o.type == "stop" and o.is_open]
            server.fill(stop.client_order_id, 50, stop.stop_price)
            faults["stop_filled_while_down"] = (stop.client_order_id, 50, stop.stop_price)
        else:
            desk.intraday(at(day, time(10, 0)))
            desk.intraday(at(day, time(15, 0)))
        if day == MISSED:
            continue  # the evening run never happens; the next tick catches it up
        if day == date(2012, 8, 17):  # 429, 429 then 500 on the orders endpoint while the entries go out
            error = {"code": 42910000, "message": "rate limit exceeded"}
            server.script("POST", "/v2/orders", Scripted(429, error, {"Retry-After": "0"}), Scripted(429, error),
                          Scripted(500, {"code": 50010000, "message": "internal error"}))  # fmt: skip
        if day == date(2012, 8, 27):  # a restart between Alpaca's acceptance and the journal
            monkeypatch.setattr(BookJournal, "replace", _crash_on_orders)
            desk.move_to(at(day, time(16, 15)))
            (request,) = desk.tick("daily_cycle_schedule")
            crashed = desk.launch(request, "daily_cycle", raise_on_error=False)
            monkeypatch.setattr(BookJournal, "replace", _REPLACE)
            faults["restart"] = (crashed.success, dict(server.by_client_id))
            assert desk.launch(request, "daily_cycle").success  # the daemon's retry of the same request
            server.partial(_entry(desk, day, "AAPL"), 100)  # only 100 of it at tomorrow's open, the rest later
            faults["partial"] = _entry(desk, day, "AAPL")
            continue
        if day == date(2012, 8, 28):  # Alpaca refuses tomorrow's entry for buying power
            server.script(
                "POST", "/v2/orders", Scripted(403, {"code": 40310000, "message": "insufficient buying power"})
            )
        results = desk.daily(day)
        assert all(r.success for r in results), day
        faults.setdefault("runs", []).append(
            (day, [r.dagster_run.tags.get("trading_pipeline/trigger") for r in results])
        )
    desk.move_to(at(SESSIONS[-1], time(17, 0)))
    desk.sense("order_status_sensor")
    return faults


def _journal_orders(desk: PaperDesk) -> pd.DataFrame:
    return desk.table("orders").set_index("client_order_id")


def test_the_missed_session_was_caught_up_before_the_next_one_traded(soak):
    desk, faults, _ = soak
    runs = dict(faults["runs"])
    assert runs[date(2012, 8, 22)] == ["catch_up", "schedule"]
    equity = desk.table("equity")
    assert list(equity["session"].dt.date) == SESSIONS  # every session closed, in order, once
    events = desk.table("risk_events")
    not_sent = events[events["rule"] == "session_caught_up"]
    assert set(not_sent["session"].dt.date) <= {MISSED}
    assert set(_journal_orders(desk).loc[lambda o: o["session"] == pd.Timestamp(MISSED), "status"]) <= {"not_sent"}


def test_the_broker_and_the_journal_agree_on_positions_and_orders(soak):
    desk, _, _ = soak
    server = desk.server
    positions = desk.table("positions")
    last = positions[positions["session"] == pd.Timestamp(SESSIONS[-1])].set_index("symbol")["qty"].to_dict()
    assert {s: p.qty for s, p in server.account.positions.items()} == pytest.approx(last)
    journal = _journal_orders(desk)
    at_broker = {o.client_order_id: o for o in server.orders.values()}
    assert set(at_broker) <= set(journal.index), "an order at the broker the journal does not know"
    never_sent = journal[~journal.index.isin(list(at_broker))]
    assert set(never_sent["status"]) <= {"rejected", "not_sent"}
    mismatched = {
        coid: (order.status, journal.loc[coid, "status"])
        for coid, order in at_broker.items()
        if BROKER_TO_JOURNAL[order.status] != journal.loc[coid, "status"]
        and not (order.status == "filled" and order.filled_qty < order.qty)
    }
    assert mismatched == {}


def test_no_client_order_id_was_used_twice_and_the_restart_placed_nothing_again(soak):
    desk, faults, _ = soak
    server = desk.server
    ids = [o.client_order_id for o in server.orders.values()]
    assert len(ids) == len(set(ids))
    crashed, placed_before_restart = faults["restart"]
    assert not crashed
    kept = {coid: server.by_client_id[coid] for coid in placed_before_restart}
    assert kept == placed_before_restart  # the retried run found them: same broker orders, none added twice


def test_every_open_position_is_protected_at_the_broker(soak):
    desk, _, _ = soak
    assert isinstance(desk.profile.resources["broker"], AlpacaBroker)
    assert desk.server.account.positions, "the soak should end holding something"
    broker = AlpacaBroker(
        api_key=desk.env["ALPACA_API_KEY"], secret_key=desk.env["ALPACA_SECRET_KEY"], trading_url=desk.server.url
    )
    assert broker.unprotected(BookState.initial(desk.book, 1.0)) == {}


def test_the_faults_left_their_marks(soak):
    desk, faults, _ = soak
    events = desk.table("risk_events")
    assert (events["rule"] == "broker_insufficient_buying_power").sum() == 1
    fills = desk.table("fills")
    partial = fills[fills["client_order_id"] == faults["partial"]]
    at_broker = desk.server.order(faults["partial"])
    pieces = [u for u in desk.server.account.updates if u.order["client_order_id"] == faults["partial"]]
    assert [u.event for u in pieces if "fill" in u.event][:1] == ["partial_fill"]  # 100 at the open, then the rest
    assert partial["qty"].sum() == at_broker.filled_qty == at_broker.qty
    leg, qty, price = faults["stop_filled_while_down"]
    booked = fills[fills["client_order_id"].str.startswith("tp-") | fills["client_order_id"].eq(leg)]
    stop_fill = booked[booked["client_order_id"] == leg]
    assert list(zip(stop_fill["session"].dt.date, stop_fill["qty"], stop_fill["price"], strict=True)) == [
        (date(2012, 8, 29), qty, price)
    ]


def test_the_breaker_and_the_daily_loss_limit_behaved_as_the_simulators(soak):
    """The journaled breaker at each close is update_risk_state's on the journaled equity, and no buy was decided
    on a session past its daily loss limit."""
    desk, _, _ = soak
    limits = desk.profile.resources["trading"].limits()
    journal = desk.journal
    states = [BookState.from_dict(journal.load_book_state(desk.book, d + timedelta(days=1))[1]) for d in SESSIONS]
    tripped = []
    for before, after in pairwise(states):
        carried = replace(after, breaker=before.breaker, breaker_since=before.breaker_since,
                          breaker_sessions=before.breaker_sessions, risk_peak=before.risk_peak,
                          streak_floor=before.streak_floor)  # fmt: skip
        expected, _ = update_risk_state(carried, after.last_session, limits)
        assert (expected.breaker, expected.breaker_sessions) == (after.breaker, after.breaker_sessions)
        tripped.append(after.breaker)
    assert "drawdown" in tripped and None in tripped  # it tripped and it resumed
    orders = desk.table("orders")
    buys = orders[(orders["side"] == "buy")]
    for state in states:
        lost = state.day_start_equity is not None and state.equity / state.day_start_equity - 1 < -limits.max_daily_loss
        if lost or state.breaker is not None:
            assert buys[buys["session"] == pd.Timestamp(state.last_session)].empty, state.last_session


def _values(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame's values, missing ones as None: a text column with no value is stored as object or as string
    depending on the run's shape (one session or a range)."""
    values = frame.reset_index(drop=True).astype(object)
    return values.where(values.notna(), None)


def test_an_offline_replay_of_the_same_sessions_makes_the_same_decisions(soak, tmp_path):
    """The offline desk (bundled-style bars, the simulator) computes the same validated signals, and sizing them on
    the paper book's own closes decides exactly the orders the paper desk sent."""
    desk, _, bars = soak
    paper_signals = {
        d: desk.defs.load_asset_value(
            AssetKey("validated_signals"), partition_key=d.isoformat(), instance=desk.instance
        )
        for d in SESSIONS
    }
    data = tmp_path / "bars.parquet"
    bars.to_parquet(data)
    (tmp_path / "offline_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "offline_home")) as offline:
        # One run per session, as the desk ran them: each warms up on the same sessions before its own (a range
        # run's indicators and track records start further back, and path-dependent ones differ slightly).
        for d in SESSIONS:
            replay = run_cycle(offline, str(d), str(d), market_data=ReplayMarketData(path=str(data)))
            assert replay.result.success, d
        signals, indicators = ({
            d: offline_defs.load_asset_value(AssetKey(key), partition_key=d.isoformat(), instance=offline)
            for d in SESSIONS
        } for key in ("validated_signals", "indicators"))  # fmt: skip
    for d in SESSIONS:
        pd.testing.assert_frame_equal(_values(paper_signals[d]), _values(signals[d]), check_like=True)
    limits, costs = desk.profile.resources["trading"].limits(), desk.profile.resources["broker"].cost_model()
    validated = pd.concat(signals.values(), ignore_index=True)
    prices = pd.concat(indicators.values(), ignore_index=True)[["date", "symbol", "close", "atr14"]]
    actionable = validated[validated["action"] != "HOLD"].merge(prices, on=["date", "symbol"], how="left")
    decide = sizing_decider(actionable, limits, costs, load_sector_map())
    journaled = desk.table("orders")
    for d in SESSIONS:
        saved = BookState.from_dict(desk.journal.load_book_state(desk.book, d + timedelta(days=1))[1])
        decided = [
            o for o in saved.pending if o.session == d and not is_exit(o) and o.strategy != "position_management"
        ]
        at_close = replace(saved, pending=tuple(o for o in saved.pending if o not in decided))
        orders, _ = decide(at_close, d)
        sent = journaled[(journaled["session"] == pd.Timestamp(d)) & (journaled["order_type"] == "market")
                         & (journaled["strategy"] != "position_management")]  # fmt: skip
        assert sorted((o.client_order_id, o.symbol, o.side, o.qty) for o in orders) == sorted(
            zip(sent["client_order_id"], sent["symbol"], sent["side"], sent["qty"], strict=True)
        ), d
