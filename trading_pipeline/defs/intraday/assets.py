"""Intraday assets, partitioned by session like the daily cycle; each 15-minute tick re-materializes
today's partition from the session's open up to the tick (``as_of``), so a retried or late tick recomputes
the same exits with the same ids instead of adding new ones."""

from datetime import UTC, date, datetime, timedelta

import pandas as pd
from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, asset, multi_asset

from trading_pipeline.defs.execution.book_inputs import starting_book
from trading_pipeline.defs.execution.execution import journal_orders
from trading_pipeline.defs.partitions import ranged, session_dates, sessions_partitions, single_run
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import Broker, SimulatedBroker
from trading_pipeline.defs.resources.intraday_data import IntradayData
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.order_updates import OrderUpdates, apply_updates
from trading_pipeline.defs.tags import AS_OF_TAG
from trading_pipeline.domain import calendar
from trading_pipeline.domain import intraday as rules
from trading_pipeline.domain.book import RiskEvent, events_to_frame, fills_to_frame, orders_to_frame

# Every step that changes a book runs in this pool; a limit of 1 serializes the daily, intraday and
# event cycles on the account (its limit: `pools: default_limit` in instance.concurrency_config).
TRADING_POOL = "trading_book"
BAR_MINUTES = 15


def run_as_of(context: AssetExecutionContext) -> dict[date, pd.Timestamp]:
    """The instant each session of the run acts at, never later than its close.

    A tick (schedule or sensor) runs one session at its ``as_of`` tag; a backfill over past sessions
    replays each of them up to its close; without a tag a session is taken up to now.
    """
    sessions = session_dates(context.partition_keys)
    tag = context.run.tags.get(AS_OF_TAG)
    if tag:
        stamp = pd.Timestamp(tag)
        if stamp.tz is None:
            raise ValueError(f"tag {AS_OF_TAG} must carry a UTC offset, got {tag!r}")
        if sessions != [rules.session_of(stamp)]:
            raise ValueError(
                f"as_of {stamp.isoformat()} is not in session {context.partition_key_range.start}"
                + ("" if len(sessions) == 1 else f"..{context.partition_key_range.end}")
            )
        moments = {sessions[0]: stamp.tz_convert("UTC")}
    else:
        now = pd.Timestamp(datetime.now(UTC))
        moments = dict.fromkeys(sessions, now)
    return {s: min(moment, rules.session_hours(s)[1]) for s, moment in moments.items()}


@ranged(multi_asset)(
    specs=[
        AssetSpec(
            "intraday_bars",
            group_name="intraday",
            kinds={"pandas"},
            description="The sessions' regular-hours 15-minute bars known at the tick (resampled from 1-minute bars).",
        ),
        AssetSpec(
            "intraday_positions",
            group_name="intraday",
            kinds={"pandas"},
            deps=["intraday_bars"],
            description="Open positions managed on the 15-minute bars: stop-loss, trailing stop, take-profit exits.",
        ),
    ],
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    pool=TRADING_POOL,
)
def intraday_cycle_step(
    context: AssetExecutionContext,
    intraday_data: IntradayData,
    trading: TradingBook,
    broker: Broker,
    journal: JournalResource,
):
    """Refresh the bars, then manage the book on them, in one step (the bars are re-read every tick anyway).

    Simulated exits are journaled as filled protective orders (replacing the session's earlier ticks);
    with a real broker the exits are the broker's own stop/limit orders, so the triggers are only recorded.
    A session the daily cycle has already closed is left alone (its book is the daily cycle's record), and
    so is one whose previous session it has not closed yet (the book to manage is not known).
    """
    moments = run_as_of(context)
    frames = [intraday_data.session_bars(s, m.to_pydatetime(), BAR_MINUTES) for s, m in moments.items()]
    intraday_bars = pd.concat(frames, ignore_index=True) if frames else rules.empty_bars()
    yield MaterializeResult(
        asset_key="intraday_bars",
        metadata={
            "provider": intraday_data.provider,
            "as_of": max(moments.values()).isoformat(),
            "bars": len(intraday_bars),
            "symbols": int(intraday_bars["symbol"].nunique()),
            "last_bar_end": intraday_bars["bar_end"].max().isoformat() if len(intraday_bars) else "none",
        },
    )
    yield MaterializeResult(
        asset_key="intraday_positions", metadata=_manage_book(context, intraday_bars, trading, broker, journal)
    )


def _manage_book(
    context: AssetExecutionContext,
    intraday_bars: pd.DataFrame,
    trading: TradingBook,
    broker: Broker,
    journal: JournalResource,
) -> dict:
    """Manage each session of the run on its bars, journal the exits, and return the step's metadata."""
    book = journal.book(context, trading.book)
    simulated = isinstance(broker, SimulatedBroker)
    sessions = session_dates(context.partition_keys)
    by_session = {s: intraday_bars[intraday_bars["bar_end"].map(rules.session_of) == s] for s in sessions}
    managed, closed, stale, results = [], [], [], []
    for session in sessions:
        saved = book.load_state(before=session + timedelta(days=1))
        if saved is not None and saved[0] >= session:
            closed.append(session)
        elif saved is not None and saved[0] < calendar.previous_session(session).date():
            stale.append(session)  # the daily cycle has not closed the previous session: the book is not known
        else:
            managed.append(session)
            state = starting_book(book, trading, session)
            results.append(rules.manage_intraday(state, session, by_session[session], broker.cost_model()))
    if closed or stale:
        context.log.warning(
            f"book {trading.book}: left alone {len(closed)} session(s) the daily cycle already closed and "
            f"{len(stale)} whose previous session it has not closed yet ({', '.join(map(str, stale)) or 'none'})"
        )
    exits = [o for r in results for o in r.exits]
    exit_times = {k: v for r in results for k, v in r.exit_times.items()}
    events = [
        RiskEvent(
            session=o.session,
            symbol=o.symbol,
            rule=f"intraday_{o.order_type}",
            action="info",
            value=o.ref_price,
            limit=o.stop_price,
            message=f"{o.client_order_id}: {o.reason} on the bar ending "
            f"{exit_times[o.client_order_id].isoformat()}" + ("" if simulated else " (left to the broker's orders)"),
        )
        for o in exits
    ]
    if managed:
        with book.transaction("journal the intraday exits"):
            if simulated:
                frame = orders_to_frame(exits)
                book.replace("orders", managed, journal_orders(frame).assign(status="filled"))
                book.replace("fills", managed, fills_to_frame(f for r in results for f in r.fills))
            book.record_risk_events(managed, "intraday", events_to_frame(events))
    context.log.info(f"book {trading.book}: {len(exits)} intraday exit(s) over {len(managed)} session(s)")
    metadata = {
        "book": trading.book,
        "sessions_managed": len(managed),
        "sessions_already_closed": ", ".join(str(s) for s in closed) or "none",
        "sessions_waiting_for_daily_close": ", ".join(str(s) for s in stale) or "none",
        "bars_seen": sum(r.bars_seen for r in results),
        "exits": len(exits),
        "exit_symbols": ", ".join(o.symbol for o in exits) or "none",
        "fills_journaled": simulated,
    }
    if results:
        metadata |= {"open_positions": len(results[-1].state.positions), "equity": results[-1].state.equity}
    return metadata


@ranged(asset)(
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    group_name="intraday",
    deps=["intraday_positions"],
    pool=TRADING_POOL,
    description="Order statuses brought up to date from the broker's updates since the first session's open.",
)
def intraday_order_status(
    context: AssetExecutionContext, order_updates: OrderUpdates, trading: TradingBook, journal: JournalResource
) -> MaterializeResult:
    first = session_dates(context.partition_keys)[0]
    since = rules.session_hours(first)[0].to_pydatetime() - timedelta(hours=24)
    book = journal.book(context, trading.book)
    updates = order_updates.updates_since(book, since)
    applied, unknown = apply_updates(book, updates)
    if unknown:
        context.log.warning(f"{len(unknown)} broker order(s) are not in the journal (placed outside the desk?)")
    return MaterializeResult(
        metadata={
            "provider": order_updates.provider,
            "updates": len(updates),
            "applied": len(applied),
            "unknown": len(unknown),
        }
    )


INTRADAY_ASSETS = [intraday_cycle_step, intraday_order_status]
