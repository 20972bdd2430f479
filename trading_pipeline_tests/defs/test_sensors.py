"""The price-move, order-status and run-failure sensors evaluated with Dagster's testing APIs."""

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from dagster import build_run_status_sensor_context, build_sensor_context, job, op

from trading_pipeline.definitions import defs
from trading_pipeline.defs.resources.alerts import Alerter
from trading_pipeline.defs.resources.alpaca_broker import AlpacaBroker
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.intraday_data import ReplayIntradayData
from trading_pipeline.defs.resources.journal import JournalResource, default_journal_url
from trading_pipeline.defs.resources.order_updates import JOURNAL_STATUS, AlpacaOrderUpdates, SimulatedOrderUpdates
from trading_pipeline.defs.sensors import (
    build_price_move_sensor,
    order_status_sensor,
    price_move_sensor,
    run_failure_alert_sensor,
)
from trading_pipeline.integrations.alpaca_client import GovernedTradingClient
from trading_pipeline.integrations.alpaca_trading import CLOSED_STATUSES, OPEN_STATUSES, AlpacaTrading, OrderSpec
from trading_pipeline.journal import Journal, OrderStatus
from trading_pipeline.sandbox.alpaca_server import NEW_YORK, SECRET_KEY, AlpacaSandbox
from trading_pipeline_tests.fakes.alpaca_fixtures import fresh_key, settings_for

REPOSITORY = defs.get_repository_def()
BOOK = "paper"


# --- price moves -------------------------------------------------------------------------------------------


def moves(sensor, now: str, cursor: str | None = None):
    context = build_sensor_context(
        cursor=cursor,
        resources={"intraday_data": ReplayIntradayData(replay_now=now), "trading": TradingBook(book=BOOK)},
        repository_def=REPOSITORY,
    )
    return sensor.evaluate_tick(context)


# On 2011-03-10 at 10:00 New York time SPY trades at 130.39 after a 132.39 close: -1.5107 %.
AT_10 = "2011-03-10T15:00:00+00:00"


def test_a_move_just_over_the_threshold_launches_one_event_cycle_with_the_move_in_its_tags():
    (request,) = moves(build_price_move_sensor(threshold=0.0151), AT_10).run_requests
    assert (request.run_key, request.partition_key) == ("price_move:SPY:2011-03-10", "2011-03-10")
    assert request.tags["trading_pipeline/move"] == "-1.51%"
    assert request.tags["trading_pipeline/symbol"] == "SPY" and request.tags["trading_pipeline/trigger"] == "price_move"
    assert (request.tags["trading_pipeline/previous_close"], request.tags["trading_pipeline/price"]) == (
        "132.39",
        "130.39",
    )
    assert request.tags["trading_pipeline/as_of"] == AT_10


def test_a_move_just_under_the_threshold_launches_nothing():
    data = moves(build_price_move_sensor(threshold=0.0152), AT_10)
    assert not data.run_requests and "no new move of ±1.5%" in data.skip_message


def test_the_default_threshold_is_5_percent_and_spy_never_moved_that_much_here():
    data = moves(price_move_sensor, AT_10)
    assert not data.run_requests and "±5.0%" in price_move_sensor.description


def test_one_event_cycle_per_symbol_per_session_however_often_it_is_evaluated():
    sensor = build_price_move_sensor(threshold=0.0015)
    first = moves(sensor, AT_10)
    assert [r.run_key for r in first.run_requests] == ["price_move:SPY:2011-03-10"]
    # Evaluated again from scratch (a lost cursor): the same run key, which the daemon never launches twice.
    assert [r.run_key for r in moves(sensor, AT_10).run_requests] == ["price_move:SPY:2011-03-10"]
    later = moves(sensor, "2011-03-10T15:30:00+00:00", cursor=first.cursor)  # -1.65 %: still moved, already triggered
    assert not later.run_requests
    next_day = moves(sensor, "2011-03-11T14:45:00+00:00", cursor=later.cursor)  # +0.23 % from 129.92
    assert [r.run_key for r in next_day.run_requests] == ["price_move:SPY:2011-03-11"]


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        ("2011-01-17T16:00:00+00:00", "2011-01-17 is not an NYSE session"),  # Martin Luther King Jr. Day
        ("2011-03-10T14:00:00+00:00", "outside the regular hours"),  # 09:00 New York: before the open
        ("2011-03-01T16:00:00+00:00", "no new move"),  # the previous session (February) is not in the file
    ],
)
def test_no_event_cycle_off_session_before_the_open_or_without_a_previous_close(now, reason):
    data = moves(build_price_move_sensor(threshold=0.0001), now)
    assert not data.run_requests and reason in data.skip_message


@pytest.mark.parametrize(
    ("now", "in_hours"),
    [
        ("2011-03-11T14:15:00+00:00", False),  # Friday 09:15 EST: before the open
        ("2011-03-14T13:45:00+00:00", True),  # Monday after the spring switch: 09:45 EDT, the market is open
        ("2011-03-14T20:15:00+00:00", False),  # 16:15 EDT: after the close (under EST it would be 15:15)
    ],
)
def test_regular_hours_are_new_york_hours_across_the_spring_switch(now, in_hours):
    data = moves(build_price_move_sensor(threshold=0.0001), now)
    if in_hours:
        assert [r.partition_key for r in data.run_requests] == [now[:10]]
    else:
        assert not data.run_requests and "outside the regular hours" in data.skip_message


# --- order status ------------------------------------------------------------------------------------------


def journal_orders(journal: Journal, ids: list[str]) -> None:
    rows = pd.DataFrame(
        [
            {
                "client_order_id": i,
                "book": BOOK,
                "session": pd.Timestamp("2012-06-01"),
                "symbol": "AAPL",
                "side": "buy",
                "qty": 10.0,
                "order_type": "market",
                "stop_price": 90.0,
                "ref_price": 100.0,
                "strategy": "Breakout",
                "confidence": 0.6,
                "reason": "test",
                "status": "submitted",
            }
            for i in ids
        ]
    )
    journal.replace_orders(BOOK, ["2012-06-01"], rows, run_id="daily")


def statuses(journal: Journal) -> dict[str, str]:
    orders = journal.read("orders", book=BOOK)
    return dict(zip(orders["client_order_id"], orders["status"], strict=True))


def order_status(instance, order_updates, cursor: str | None):
    with build_sensor_context(
        cursor=cursor,
        instance=instance,
        resources={"order_updates": order_updates, "trading": TradingBook(book=BOOK), "journal": JournalResource()},
    ) as context:
        return order_status_sensor.evaluate_tick(context)


def test_alpaca_fills_partial_fills_cancels_and_rejections_reach_the_journal_once(instance):
    journal = Journal(default_journal_url(Path(instance.root_directory)))
    journal.create_schema()
    journal_orders(journal, ["tp-a", "tp-b", "tp-c"])
    with AlpacaSandbox(now=datetime.now(NEW_YORK).replace(microsecond=0), prices={"AAPL": 100.0}) as server:
        trading = AlpacaTrading(GovernedTradingClient(settings_for(server)))
        for coid in ("tp-a", "tp-b", "tp-c", "manual-1"):
            assert trading.submit(
                OrderSpec(client_order_id=coid, symbol="AAPL", side="buy", qty=10.0, time_in_force="day")
            ).order
        updates = AlpacaOrderUpdates(
            broker=AlpacaBroker(api_key=fresh_key(), secret_key=SECRET_KEY, trading_url=server.url)
        )

        first = order_status(instance, updates, None)
        assert statuses(journal) == {"tp-a": "submitted", "tp-b": "submitted", "tp-c": "submitted"}
        assert "3 order status(es) journaled from 4 update(s); 1 unknown" in first.skip_message

        server.now += timedelta(minutes=1)
        server.fill("tp-a", 4.0, 100.0)
        second = order_status(instance, updates, first.cursor)
        assert "1 order status(es) journaled from 1 update(s)" in second.skip_message
        assert statuses(journal)["tp-a"] == "partially_filled"

        server.now += timedelta(minutes=1)
        server.fill("tp-a", 6.0, 101.0)
        server.expire("tp-b", "canceled")
        server.expire("tp-c", "rejected")
        third = order_status(instance, updates, second.cursor)
        assert statuses(journal) == {"tp-a": "filled", "tp-b": "cancelled", "tp-c": "rejected"}
        assert "no order update" in order_status(instance, updates, third.cursor).skip_message
        # Replaying from an old cursor (a crash before the cursor was saved) writes the same statuses again.
        order_status(instance, updates, second.cursor)
        assert statuses(journal) == {"tp-a": "filled", "tp-b": "cancelled", "tp-c": "rejected"}


def test_every_alpaca_status_has_a_journal_status():
    assert set(JOURNAL_STATUS) == OPEN_STATUSES | CLOSED_STATUSES
    assert set(JOURNAL_STATUS.values()) == {
        "submitted",
        "partially_filled",
        "filled",
        "cancelled",
        "rejected",
        "replaced",
    }
    assert JOURNAL_STATUS["replaced"] == "replaced"  # a moved stop: its successor carries on, nothing was cancelled
    assert set(JOURNAL_STATUS.values()) <= {s.value for s in OrderStatus}


def test_the_simulator_reports_what_the_journal_holds_and_the_cursor_moves_on(instance):
    journal = Journal(default_journal_url(Path(instance.root_directory)))
    journal.create_schema()
    journal_orders(journal, ["tp-x", "tp-y"])
    first = order_status(instance, SimulatedOrderUpdates(), None)
    assert "2 order status(es) journaled from 2 update(s); 0 unknown" in first.skip_message
    assert statuses(journal) == {"tp-x": "submitted", "tp-y": "submitted"}
    assert "no order update" in order_status(instance, SimulatedOrderUpdates(), first.cursor).skip_message


# --- run failures ------------------------------------------------------------------------------------------


class Webhook:
    """A Slack-compatible receiver on 127.0.0.1 that records the JSON it gets and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status, self.received = status, []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return

            def do_POST(self) -> None:
                hook.received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
                self.send_response(hook.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/hook-token-5ecret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SECRET = "sk-live-0123456789abcdef"
DB_PASSWORD = "hunter2-db-pass"


@op
def place_orders():
    raise ValueError(f"broker refused key {SECRET} while journal postgresql://desk:{DB_PASSWORD}@db:5432/j was up")


@job
def failing_cycle():
    place_orders()


def alert_for_failed_run(instance, alerter: Alerter):
    result = failing_cycle.execute_in_process(instance=instance, raise_on_error=False)
    with build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        resources={"alerter": alerter, "journal": JournalResource()},
    ) as context:
        run_failure_alert_sensor(context.for_run_failure())
    return result.run_id, Journal(default_journal_url(Path(instance.root_directory))).read_alerts()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def test_a_failed_run_posts_a_slack_alert_without_secrets_and_journals_it(instance, webhook, monkeypatch):
    monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET)
    monkeypatch.setenv("TRADING_ALERT_WEBHOOK_URL", webhook.url)  # as deployed: the definitions' Alerter() reads it
    run_id, alerts = alert_for_failed_run(instance, Alerter())
    ((path, payload),) = webhook.received
    assert path == "/services/T000/B000/hook-token-5ecret"
    assert payload["text"] == ":rotating_light: failing_cycle failed"
    fields = {f["title"]: f["value"] for f in payload["attachments"][0]["fields"]}
    assert fields["run_id"] == run_id and fields["job"] == "failing_cycle" and fields["step"] == "place_orders"
    assert fields["error"].startswith("ValueError: broker refused key *** while journal postgresql://desk:***@db")
    (row,) = alerts.to_dict("records")
    assert (row["kind"], row["run_id"], row["job"], row["step"], row["delivery"]) == (
        "run_failure",
        run_id,
        "failing_cycle",
        "place_orders",
        "webhook ok",
    )
    stored = json.dumps(payload) + json.dumps(row, default=str)
    for secret in (SECRET, DB_PASSWORD, "hook-token-5ecret"):
        assert secret not in stored


def test_the_alert_reaches_the_journal_when_the_webhook_fails_or_is_not_configured(instance, webhook, monkeypatch):
    monkeypatch.delenv("TRADING_ALERT_WEBHOOK_URL", raising=False)
    webhook.status = 500
    alert_for_failed_run(instance, Alerter(webhook_url=webhook.url))
    _, alerts = alert_for_failed_run(instance, Alerter())
    assert alerts["delivery"].tolist() == ["webhook failed: HTTP 500", "journal"]
    assert len(webhook.received) == 1
