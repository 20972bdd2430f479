"""The execution step: approved orders reach the broker, and the book is recorded session by session.

``fills`` and ``portfolio`` come from one op because the book is path-dependent: each session's fills
change the positions the next session's fills start from. ``portfolio`` depends on its own previous
session (the book carried forward); the state itself lives in the journal, not in an IO manager.
"""

import pandas as pd
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetSpec,
    Failure,
    MaterializeResult,
    ResourceParam,
    multi_asset,
)

from trading_pipeline.defs.execution.book_inputs import PRICE_COLUMNS, price_panels, starting_book
from trading_pipeline.defs.partitions import (
    previous_session_mapping,
    ranged,
    session_dates,
    sessions_partitions,
    single_run,
)
from trading_pipeline.defs.resources.accounts import TradingAccounts
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import Broker
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.session_store import SessionParquetIOManager
from trading_pipeline.domain.book import events_to_frame, fills_to_frame, orders_from_frame, orders_to_frame
from trading_pipeline.domain.engine import SessionResult, track_risk_state
from trading_pipeline.domain.risk.verification import verify_orders


@ranged(multi_asset)(
    specs=[
        AssetSpec(
            "fills",
            group_name="execution",
            kinds={"pandas"},
            description="Executions of approved orders.",
            deps=["sized_orders", "indicators"],
        ),
        AssetSpec(
            "portfolio",
            group_name="execution",
            kinds={"pandas"},
            description="Positions, cash and equity after each session's close.",
            deps=["fills", AssetDep("portfolio", partition_mapping=previous_session_mapping)],
        ),
    ],
    ins={"sized_orders": AssetIn()},
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
)
def execution(
    context: AssetExecutionContext,
    sized_orders: pd.DataFrame,
    session_store: ResourceParam[SessionParquetIOManager],
    trading: TradingBook,
    broker: Broker,
    journal: JournalResource,
    accounts: TradingAccounts,
):
    """Refuses to send anything that breaks a limit, whatever run or manual launch got here."""
    sessions = session_dates(context.partition_keys)
    account = accounts.resolve().account_of(trading.book).limits
    violations = verify_orders(sized_orders, trading.limits(), broker.cost_model(), account)
    if len(violations):
        raise Failure(
            description=f"{len(violations)} order(s) break a risk limit: nothing was sent to the broker",
            metadata={"violations": violations.head(50).to_markdown(index=False)},
            allow_retries=False,
        )
    book = journal.book(context, trading.book)
    start = starting_book(book, trading, sessions[0])
    # The prices only: a multi-asset's input cannot carry the columns it reads, so the dependency is read here.
    indicators = session_store.read(AssetKey("indicators"), sessions, PRICE_COLUMNS)
    prices = price_panels(indicators, sessions)
    orders = orders_from_frame(sized_orders)
    by_session: dict = {}
    for order in orders:
        by_session.setdefault(order.session, []).append(order)
    # The broker fills; the circuit breaker is the desk's state, threaded through its books afterwards.
    results = track_risk_state(start, broker.execute(start, sessions, by_session, prices), trading.limits())

    fills = fills_to_frame(f for r in results for f in r.fills)
    exits = orders_to_frame(o for r in results for o in r.exits)
    # Protective exits: the simulator's, triggered on the bars (filled stop/limit/time-stop orders); a real
    # broker's, placed or moved at the broker this session (working until they fill).
    frames = [journal_orders(frame) for frame in (sized_orders, exits) if len(frame)]
    orders_journaled = pd.concat(frames, ignore_index=True) if frames else journal_orders(sized_orders)
    carried = orders_to_frame(start.pending)
    # One transaction: every session of the range is journaled whole, or not at all.
    with book.transaction("journal the executions"):
        book.replace("orders", sessions, orders_journaled.assign(status=_statuses(orders_journaled, fills, results)))
        # Orders an earlier run left pending were filled (or cancelled) at this range's first open.
        book.update_order_status(dict(zip(carried["client_order_id"], _statuses(carried, fills, results), strict=True)))
        book.replace("fills", sessions, fills)
        book.replace("positions", sessions, _position_rows(results))
        book.replace("equity", sessions, _equity_rows(results))
        book.record_risk_events(sessions, "execution", events_to_frame(e for r in results for e in r.events))
        book.save_book_states({r.session: r.state.to_dict() for r in results})
    if broker.kind != "simulated":
        # The orders are at the broker: the journal keeps them now, whatever happens to the rest of the run.
        book.commit(broker.kind, trading.initial_capital)

    last = results[-1].state
    context.log.info(
        f"book {trading.book}: {len(fills)} fills over {len(sessions)} sessions, equity {last.equity:,.2f}"
    )
    yield MaterializeResult(
        asset_key="fills",
        metadata={
            "fills": len(fills),
            "commission": float(fills["commission"].sum()) if len(fills) else 0.0,
            "protective_exits": len(exits),
        },
    )
    yield MaterializeResult(
        asset_key="portfolio",
        metadata={
            "book": trading.book,
            "equity": last.equity,
            "cash": last.cash,
            "open_positions": len(last.positions),
            "pending_orders": len(last.pending),
            "drawdown": last.drawdown,
            "circuit_breaker": last.breaker or "not tripped",
            "losing_streak": last.losing_streak,
        },
    )


JOURNAL_ORDER_COLUMNS = [
    "client_order_id", "book", "session", "symbol", "side", "qty", "order_type", "limit_price", "stop_price",
    "ref_price", "strategy", "confidence", "reason",
]  # fmt: skip


def journal_orders(orders: pd.DataFrame) -> pd.DataFrame:
    """Orders as the journal keeps them, each with the prices of its type: a limit order (a take-profit exit) its
    limit, a stop order its stop, an entry the protective stop it carries; a time-stop's market sell none."""
    limit = orders["take_profit"].where(orders["order_type"] == "limit")
    stop = orders["stop_price"].where(orders["order_type"].isin(["stop", "market"]) & (orders["side"] == "buy"))
    stop = stop.fillna(orders["stop_price"].where(orders["order_type"] == "stop"))
    return orders.assign(limit_price=limit.astype("float64"), stop_price=stop.astype("float64"))[JOURNAL_ORDER_COLUMNS]


def _statuses(orders: pd.DataFrame, fills: pd.DataFrame, results: list[SessionResult]) -> pd.Series:
    """What became of each order (client_order_id, qty) by the end of the range."""
    filled = fills.groupby("client_order_id")["qty"].sum() if len(fills) else pd.Series(dtype=float)
    pending = orders["client_order_id"].isin({o.client_order_id for o in results[-1].state.pending})
    # A broker's word on an order is journaled as an event whose message starts with the order's id.
    said = {
        e.message.split(":", 1)[0]: EVENT_STATUS.get(e.rule, "rejected")
        for r in results
        for e in r.events
        if e.action == "rejected" or e.rule in EVENT_STATUS
    }
    qty_filled = orders["client_order_id"].map(filled).astype("float64").fillna(0.0)
    status = pd.Series("cancelled", index=orders.index, dtype="object")
    status[qty_filled > 0] = "partially_filled"
    status[qty_filled >= orders["qty"].astype("float64")] = "filled"
    told = orders["client_order_id"].map(said)
    status[told.notna() & (qty_filled == 0)] = told
    status[pending & (qty_filled == 0)] = "submitted"
    return status


# Events that name what became of an order: moved at the broker, or decided too late to be sent.
EVENT_STATUS = {"exit_replaced": "replaced", "session_caught_up": "not_sent"}


def _position_rows(results: list[SessionResult]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "session": r.session,
                "symbol": p.symbol,
                "qty": p.qty,
                "avg_price": p.avg_price,
                "close": p.last_price,
                "market_value": p.market_value,
            }
            for r in results
            for p in r.state.positions.values()
        ],
        columns=["session", "symbol", "qty", "avg_price", "close", "market_value"],
    )


def _equity_rows(results: list[SessionResult]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "session": r.session,
                "cash": r.state.cash,
                "positions_value": r.state.equity - r.state.cash,
                "equity": r.state.equity,
                "peak_equity": r.state.peak_equity,
                "drawdown": r.state.drawdown,
            }
            for r in results
        ]
    )
