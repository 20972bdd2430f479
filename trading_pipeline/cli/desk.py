"""`trading-pipeline status` and `trading-pipeline cycle [--session DATE]`: the desk of the current profile.

``status`` says what this deployment is and where it stands: the profile (``TRADING_PROFILE``), who serves each
concern, which keys are set (never their values), the broker's account, clock, open orders and positions, the
book's breaker and halt, and its last daily cycle. ``cycle`` runs the daily cycle of one session for the profile's
book through Dagster, without any reset: the sessions a real broker's book missed first, oldest first (caught up:
settled, their orders journaled not_sent), as the daily schedule does.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus, JobDefinition, RunsFilter, build_resources

from trading_pipeline.cli.halts import QUIET, SwitchError, instance_journal, run_failure
from trading_pipeline.defs.jobs import DAILY_CYCLE
from trading_pipeline.defs.profiles import Profile, current
from trading_pipeline.defs.resources.alpaca_broker import AlpacaBroker
from trading_pipeline.defs.schedules import missed_sessions
from trading_pipeline.defs.tags import BOOK_TAG, TRIGGER_TAG, book_tags
from trading_pipeline.domain import calendar
from trading_pipeline.domain.book import BookState
from trading_pipeline.journal.books import run_rows
from trading_pipeline.journal.halts import active_halt


class CycleError(SwitchError):
    """The cycle could not run or did not succeed; one line per reason."""


def profile_daily_cycle(profile: Profile) -> JobDefinition:
    """The daily cycle of ``profile``'s book, on its resources."""
    from trading_pipeline.definitions import build_defs

    return build_defs(profile).resolve_job_def(DAILY_CYCLE)


def desk_status(instance: DagsterInstance, profile: Profile | None = None) -> dict[str, Any]:
    """Everything ``status`` prints, as data (``--json``)."""
    profile = profile or current()
    journal = instance_journal(instance)
    book = profile.book
    saved = journal.load_book_state(book, before="9999-12-31")
    state = None if saved is None else BookState.from_dict(saved[1])
    halt = active_halt(journal, book)
    status: dict[str, Any] = {
        "profile": profile.name,
        "book": book,
        "providers": profile.providers,
        "keys": {name: "set" if present else "not set" for name, present in profile.keys.items()},
        "journal": {
            "last_session": None if state is None else str(state.last_session),
            "equity": None if state is None else round(state.equity, 2),
            "cash": None if state is None else round(state.cash, 2),
            "positions": {} if state is None else {s: p.qty for s, p in sorted(state.positions.items())},
            "pending_orders": 0 if state is None else len(state.pending),
        },
        "breaker": "none" if state is None or state.breaker is None else f"{state.breaker} since {state.breaker_since}",
        "halt": "none" if halt is None else halt.describe(),
        "last_cycle": _last_cycle(instance, book),
    }
    status["broker"] = _broker_status(profile)
    return status


def print_status(instance: DagsterInstance) -> int:
    """Print the status; 1 when the broker could not be reached (the rest is printed anyway)."""
    status = desk_status(instance)
    print(f"profile: {status['profile']} (book {status['book']})")
    print("providers:")
    for concern, provider in status["providers"].items():
        print(f"  {concern}: {provider}")
    keys = ", ".join(f"{name} {present}" for name, present in status["keys"].items())
    print(f"keys: {keys or 'none needed'}")
    broker = status["broker"]
    print(f"broker: {broker['name']}")
    for line in broker.get("lines", []):
        print(f"  {line}")
    book = status["journal"]
    if book["last_session"] is None:
        print(f"book {status['book']}: nothing journaled yet")
    else:
        held = ", ".join(f"{s} {q:g}" for s, q in book["positions"].items()) or "none"
        print(f"book {status['book']}: closed {book['last_session']}, equity {book['equity']:,.2f}, "
              f"cash {book['cash']:,.2f}, positions {held}, {book['pending_orders']} pending order(s)")  # fmt: skip
    print(f"breaker: {status['breaker']}")
    print(f"halt: {status['halt']}")
    print(f"last cycle: {status['last_cycle']}")
    return 1 if "error" in broker else 0


def run_cycle(session: date | None, instance: DagsterInstance, profile: Profile | None = None) -> list[str]:
    """Run the profile's daily cycle for ``session`` (default: the broker's latest closed session), the book's
    missed sessions first; one line per run."""
    profile = profile or current()
    book = profile.book
    journal = instance_journal(instance)
    if session is None:
        session = _latest_closed(profile)
    if not calendar.is_session(session):
        raise CycleError(f"--session {session} is not an NYSE session")
    saved = journal.load_book_state(book, before=session)
    missed: list[date] = []
    if profile.resources["broker"].kind != "simulated" and saved is not None:
        # Attended, the operator catches up every missed session (the schedule stops at MAX_CATCH_UP).
        missed = missed_sessions(saved[0], session, limit=None)
    job = profile_daily_cycle(profile)
    lines: list[str] = []
    for day in (*missed, session):
        trigger = "catch_up" if day != session else "cli"
        tags = {**book_tags(book), TRIGGER_TAG: trigger}
        # In this process, on the instance (the UI shows the run): the profile is this process's environment's.
        result = job.execute_in_process(
            instance=instance, partition_key=day.isoformat(), tags=tags, run_config=QUIET, raise_on_error=False
        )
        run_id = result.run_id
        if not result.success:
            raise CycleError("\n".join([*lines, f"{day} ({trigger}): {run_failure(instance, run_id)}"]))
        orders = run_rows(journal, book, run_id, "orders")
        fills = run_rows(journal, book, run_id, "fills")
        sent = int((orders["status"] != "not_sent").sum()) if len(orders) else 0
        not_sent = len(orders) - sent
        lines.append(
            f"{day} ({trigger}): run {run_id} succeeded; {sent} order(s) journaled"
            + (f", {not_sent} not sent (caught up)" if not_sent else "")
            + f", {len(fills)} fill(s) booked"
        )
    return lines


def _latest_closed(profile: Profile) -> date:
    broker = profile.resources["broker"]
    if not isinstance(broker, AlpacaBroker):
        raise CycleError(f"the {profile.name} profile replays history: give the session with --session YYYY-MM-DD")
    with build_resources({"broker": broker}) as resources:
        clock = resources.broker.connect().market_clock()
    if clock.latest_closed is None:
        raise CycleError("the broker's calendar shows no closed session this week: give --session")
    return clock.latest_closed


def _last_cycle(instance: DagsterInstance, book: str) -> str:
    runs = instance.get_runs(RunsFilter(job_name=DAILY_CYCLE, tags={BOOK_TAG: book}), limit=1)
    if not runs:
        return "none"
    run = runs[0]
    partition = run.tags.get("dagster/partition") or (
        f"{run.tags.get('dagster/asset_partition_range_start')}..{run.tags.get('dagster/asset_partition_range_end')}"
    )
    record = instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record is not None else None
    when = f" at {date.fromtimestamp(ended)}" if ended else ""
    outcome = run.status.value if run.status != DagsterRunStatus.SUCCESS else "SUCCESS"
    return f"run {run.run_id} session {partition}: {outcome}{when} ({run.tags.get(TRIGGER_TAG, 'manual')})"


def _broker_status(profile: Profile) -> dict[str, Any]:
    broker = profile.resources["broker"]
    if not isinstance(broker, AlpacaBroker):
        return {"name": "simulator (its orders and positions are the journal's)"}
    name = profile.providers.get("broker", f"Alpaca {broker.mode}")
    try:
        with build_resources({"broker": broker}) as resources:
            trading = resources.broker.connect()
            account, clock = trading.account(), trading.market_clock()
            positions, orders = trading.positions(), trading.open_orders()
    except Exception as error:  # status must still print the rest: the broker's error is part of the status
        return {"name": name, "error": f"{type(error).__name__}: {error}", "lines": [f"unreachable: {error}"]}
    market = "open" if clock.is_open else "closed"
    lines = [
        f"account {account.status}{' (trading blocked)' if account.trading_blocked else ''}: cash {account.cash:,.2f}, "
        f"equity {account.equity:,.2f}, buying power {account.buying_power:,.2f}",
        f"clock {clock.now:%Y-%m-%d %H:%M %Z}: market {market}, next open {clock.next_open:%Y-%m-%d %H:%M}, "
        f"next close {clock.next_close:%Y-%m-%d %H:%M}, latest closed session {clock.latest_closed}",
        "positions: " + (", ".join(f"{s} {q:g}" for s, q in sorted(positions.items())) or "none"),
        f"open orders: {len(orders)}",
        *(
            f"  {o.symbol} {o.side} {o.qty:g} {o.kind} {o.order_class}"
            + (f" stop {o.stop_price}" if o.stop_price else "")
            + (f" limit {o.limit_price}" if o.limit_price else "")
            + f" {o.status} ({o.client_order_id})"
            for o in orders
        ),
    ]
    return {
        "name": name,
        "account": {"status": account.status, "cash": account.cash, "equity": account.equity},
        "clock": {"now": clock.now.isoformat(), "is_open": clock.is_open, "latest_closed": str(clock.latest_closed)},
        "positions": positions,
        "open_orders": [o.client_order_id for o in orders],
        "lines": lines,
    }
