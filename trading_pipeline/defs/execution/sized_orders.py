"""sized_orders: each session's orders, sized by the risk engine on the book carried forward."""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MetadataValue

from trading_pipeline.defs.execution.book_inputs import account_around, indicator_prices, price_panels, starting_book
from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.resources.accounts import TradingAccounts
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import Broker
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.domain.bars import quarantine_share
from trading_pipeline.domain.book import RiskEvent, events_to_frame, orders_to_frame
from trading_pipeline.domain.engine import run_sessions, sizing_decider
from trading_pipeline.domain.risk.sizing import SIZING_SIGNAL_COLUMNS
from trading_pipeline.domain.schema import Action
from trading_pipeline.domain.sectors import is_unknown, load_sector_map
from trading_pipeline.journal.halts import active_halt

# What sizing reads of the validated signals: its columns but the prices, which come from the indicators.
SIZED_COLUMNS = [c for c in SIZING_SIGNAL_COLUMNS if c not in ("close", "atr14")]


@session_table(
    "execution",
    ins={
        "indicators": indicator_prices("atr14"),
        "validated_signals": AssetIn(metadata={"columns": SIZED_COLUMNS, "without": {"action": [Action.HOLD.value]}}),
        "market_bars": AssetIn(metadata={"columns": ["quarantined", "quarantine_reason"]}),
    },
)
def sized_orders(
    context: AssetExecutionContext,
    validated_signals: pd.DataFrame,
    indicators: pd.DataFrame,
    market_bars: pd.DataFrame,
    trading: TradingBook,
    broker: Broker,
    journal: JournalResource,
    accounts: TradingAccounts,
) -> pd.DataFrame:
    """Walks the sessions in order with the deterministic simulator, so each day is sized on the book
    that the previous days' fills produce; rejections and clips are journaled with rule and limit, and a
    symbol the sector map does not know (its own sector bucket) is journaled as an ``unknown_sector`` note.
    A book halted when the run starts sizes no buy; its account's other books count as the journal has them."""
    sessions = session_dates(context.partition_keys)
    limits, costs = trading.limits(), broker.cost_model()
    book = journal.book(context, trading.book)  # the book's lock: its halt cannot change while the run goes on
    halt = active_halt(journal.journal, trading.book)
    account, others = account_around(journal.journal, accounts.resolve(), trading.book, sessions)
    start = starting_book(book, trading, sessions[0])
    prices = price_panels(indicators, sessions)

    share = quarantine_share(market_bars)
    bad_days = {d.date(): s for d, s in share[share > trading.max_quarantined_share].items()}
    actionable = validated_signals[validated_signals["action"] != "HOLD"].merge(
        indicators[["date", "symbol", "close", "atr14"]], on=["date", "symbol"], how="left", validate="one_to_one"
    )
    decide = sizing_decider(actionable, limits, costs, load_sector_map(), halt, account.limits, others)
    decision_events: list[RiskEvent] = []
    position = {s: i + 1 for i, s in enumerate(sessions)}
    progress_every = max(len(sessions) // 10, 1)

    def decide_unless_bad_data(state, session):
        done = position[session]
        if len(sessions) >= 20 and done % progress_every == 0:
            context.log.info(f"sized {done}/{len(sessions)} sessions (through {session}), equity {state.equity:,.2f}")
        if session in bad_days:
            orders, events = (
                [],
                [
                    RiskEvent(
                        session=session,
                        symbol=None,
                        rule="data_quality",
                        action="rejected",
                        value=float(bad_days[session]),
                        limit=trading.max_quarantined_share,
                        message="too much of the universe quarantined: no new orders this session",
                    )
                ],
            )
        else:
            orders, events = decide(state, session)
        decision_events.extend(events)
        return orders, events

    results = run_sessions(start, sessions, prices, decide_unless_bad_data, costs, limits, broker.settler(prices))
    orders = orders_to_frame(o for r in results for o in r.orders)
    unknown = orders[orders["sector"].map(is_unknown).astype(bool)].drop_duplicates("symbol").sort_values("symbol")
    decision_events.extend(
        RiskEvent(
            session=session.date(),
            symbol=symbol,
            rule="unknown_sector",
            action="info",
            value=None,
            limit=None,
            message=f"{symbol} is not in the bundled sector map: the sector cap treats it as its own sector",
        )
        for session, symbol in zip(unknown["session"], unknown["symbol"], strict=True)
    )
    events = events_to_frame(decision_events)  # ~100k rows in a 5-year backtest: built once
    book.record_risk_events(sessions, "sizing", events)
    by_rule = events.groupby(["rule", "action"]).size().rename("events").reset_index()
    context.add_output_metadata(
        {
            "book": trading.book,
            "starting_equity": start.equity,
            "orders": len(orders),
            "buys": int((orders["side"] == "buy").sum()),
            "sells": int((orders["side"] == "sell").sum()),
            "rejections_and_clips": sum(e.action != "info" for e in decision_events),
            "events_by_rule": MetadataValue.md(by_rule.to_markdown(index=False) if len(by_rule) else "none"),
            "unknown_sector_symbols": ", ".join(unknown["symbol"]) or "none",
            "breaker_at_end": results[-1].state.breaker or "not tripped",
            "halted": halt.describe() if halt else "no",
            "account": account.name,
        }
    )
    return orders.assign(date=orders["session"])
