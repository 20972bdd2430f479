"""Sensors: a large price move launches an event cycle, broker order updates reach the journal, and a failed
run raises an alert (webhook when configured, journal always).

All three default to STOPPED: they act on a live account or post to a chat, which a deployment turns on
deliberately.
"""

import json

from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from trading_pipeline.defs.intraday.assets import AS_OF_TAG
from trading_pipeline.defs.jobs import EVENT_CYCLE
from trading_pipeline.defs.resources.alerts import Alert, Alerter
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.intraday_data import IntradayData
from trading_pipeline.defs.resources.journal import JournalResource, holder_gone
from trading_pipeline.defs.resources.order_updates import OrderCursor, OrderUpdates, apply_updates
from trading_pipeline.defs.tags import MOVE_TAG, PREVIOUS_CLOSE_TAG, PRICE_TAG, SYMBOL_TAG, TRIGGER_TAG, book_tags
from trading_pipeline.domain import calendar
from trading_pipeline.domain import intraday as rules
from trading_pipeline.journal.books import BookLocked, lock_holders, release_lock


def build_price_move_sensor(
    threshold: float = rules.DEFAULT_MOVE_THRESHOLD,
    minimum_interval_seconds: int = 60,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> SensorDefinition:
    """An event cycle when a symbol trades ``threshold`` or more away from its previous close.

    At most one per symbol per session: the run key is (symbol, session), and the cursor remembers the
    symbols already triggered today so that later evaluations do not even ask again.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")

    @sensor(
        name="price_move_sensor",
        job_name=EVENT_CYCLE,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=f"Event cycle on a move of ±{threshold:.1%} or more from the previous close (once per symbol per session).",
    )
    def price_move_sensor(context: SensorEvaluationContext, intraday_data: IntradayData, trading: TradingBook):
        now = intraday_data.now()
        session = rules.session_of(now)
        if not calendar.is_session(session):
            return SkipReason(f"{session} is not an NYSE session")
        opening, close = rules.session_hours(session)
        if not opening < now <= close:
            return SkipReason(f"{now.isoformat()} is outside the regular hours of {session}")
        previous = intraday_data.previous_closes(session)
        prices = intraday_data.latest_prices(now)
        unjudged = sorted(set(prices) - set(previous))
        if unjudged:
            context.log.warning(f"no previous close for {unjudged}: their moves cannot be judged")
        state = json.loads(context.cursor) if context.cursor else {}
        triggered = set(state.get("triggered", [])) if state.get("session") == session.isoformat() else set()
        moves = [m for m in rules.price_moves(session, prices, previous, now, threshold) if m.symbol not in triggered]
        new_cursor = json.dumps(
            {"session": session.isoformat(), "triggered": sorted(triggered | {m.symbol for m in moves})}
        )
        if not moves:
            return SensorResult(
                skip_reason=f"no new move of ±{threshold:.1%} among {len(prices)} symbol(s)", cursor=new_cursor
            )
        as_of = now.isoformat()
        requests = [
            RunRequest(
                run_key=f"price_move:{m.symbol}:{session.isoformat()}",
                partition_key=session.isoformat(),
                tags={
                    AS_OF_TAG: as_of,
                    TRIGGER_TAG: "price_move",
                    SYMBOL_TAG: m.symbol,
                    MOVE_TAG: m.describe(),
                    PREVIOUS_CLOSE_TAG: f"{m.previous_close:g}",
                    PRICE_TAG: f"{m.price:g}",
                    **book_tags(trading.book),
                },
            )
            for m in moves
        ]
        return SensorResult(run_requests=requests, cursor=new_cursor)

    return price_move_sensor


@sensor(
    name="order_status_sensor",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Broker order updates (fills, partial fills, cancels, rejections) into the journal, by cursor.",
)
def order_status_sensor(
    context: SensorEvaluationContext, order_updates: OrderUpdates, trading: TradingBook, journal: JournalResource
):
    cursor = OrderCursor.parse(context.cursor)
    try:
        with journal.outside_a_run(context.instance, trading.book, "sensor:order_status_sensor") as book:
            updates = cursor.new_updates(order_updates.updates_since(book, cursor.since))
            if not updates:
                return SkipReason(f"no order update from {order_updates.provider} since {cursor.since}")
            applied, unknown = apply_updates(book, updates)
    except BookLocked as exc:  # a cycle is writing the book: its updates wait for the next tick
        return SkipReason(str(exc))
    if unknown:
        context.log.warning(f"{len(unknown)} broker order(s) are not in the journal of {trading.book}: {unknown[:5]}")
    return SensorResult(
        skip_reason=f"{len(applied)} order status(es) journaled from {len(updates)} update(s); {len(unknown)} unknown",
        cursor=cursor.advance(updates).serialize(),
    )


def failure_alert(context: RunFailureSensorContext) -> Alert:
    """Run id, job, failed steps and the first error, summarized (``Alerter`` redacts it before it leaves)."""
    run = context.dagster_run
    failures = context.get_step_failure_events()
    steps = ", ".join(sorted({e.step_key for e in failures if e.step_key})) or None
    errors = [e.step_failure_data.error for e in failures if e.step_failure_data.error is not None]
    if errors:
        first = errors[0]
        while first.cause is not None and first.cls_name.startswith("Dagster"):  # unwrap to the user's error
            first = first.cause
        summary = first.message.strip()  # "ValueError: ..."
    else:
        summary = context.failure_event.message or "the run failed without a step error"
    return Alert(
        kind="run_failure",
        title=f"{run.job_name} failed",
        summary=summary,
        run_id=run.run_id,
        job=run.job_name,
        step=steps,
    )


@run_failure_sensor(
    name="run_failure_alert_sensor",
    default_status=DefaultSensorStatus.STOPPED,
    description="Every failed run: an alert to the webhook (when configured) and always to the journal.",
)
def run_failure_alert_sensor(context: RunFailureSensorContext, alerter: Alerter, journal: JournalResource):
    delivery = alerter.send(journal.journal, failure_alert(context))
    context.log.info(f"alert for run {context.dagster_run.run_id}: {delivery}")


price_move_sensor = build_price_move_sensor()


@sensor(
    name="dead_run_sensor",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Runs whose process died while writing a book are marked failed and their book lock released.",
)
def dead_run_sensor(context: SensorEvaluationContext, journal: JournalResource):
    """A run killed with -9 stays STARTED in Dagster and would hold its slot of the run queue (and its book) for
    ever: the default run launcher cannot see its worker. Its book lock can: its process is gone (on this host) or
    it stopped showing it is alive. Such a run is marked failed, so the queue moves on, and the lock released."""
    handled = []
    for holder in lock_holders(journal.journal):
        why = holder_gone(context.instance, holder)
        if why is None:
            continue
        run = context.instance.get_run_by_id(holder.run_id)
        if run is not None and not run.is_finished:
            context.instance.report_run_failed(run, f"its process died while writing book {holder.book!r}: {why}")
        if release_lock(journal.journal, holder):
            handled.append(f"{holder.run_id} ({holder.book}: {why})")
    return SkipReason(f"released {len(handled)} book(s): {'; '.join(handled)}" if handled else "no dead writer")


SENSORS = [price_move_sensor, order_status_sensor, run_failure_alert_sensor, dead_run_sensor]
