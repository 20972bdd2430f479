"""Blocking risk checks on sized_orders: an independent re-verification of every final order.

The sizing step already clips orders to the limits; these checks recompute each rule from the orders'
decision-time snapshot without calling the sizing code (defence in depth). Each rule is its own check in
the UI; one op evaluates them all so the range's orders are loaded once. A failure is ERROR severity and
blocking, so the execution step of the same run never starts, and it is journaled. Each check's metadata
also lists what the sizing step rejected or clipped under the same rule (rule, value, limit), so the UI
shows both the guard and what it guards.
"""

from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    MetadataValue,
    multi_asset_check,
)

from trading_pipeline.defs.partitions import ranged, ranged_apis, session_dates, sessions_partitions
from trading_pipeline.defs.resources.accounts import TradingAccounts
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import Broker
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.domain.risk.halt import HALT_RULE
from trading_pipeline.domain.risk.verification import VERIFY_RULES

# The sizing's events name the fact that blocked a buy; a check may be named for what it guards instead.
SIZING_RULE = {"not_halted": HALT_RULE}

with ranged_apis():
    RISK_CHECK_SPECS = [
        AssetCheckSpec(
            rule,
            asset="sized_orders",
            description=(verify.__doc__ or rule).strip().splitlines()[0],
            blocking=True,
            partitions_def=sessions_partitions,
        )
        for rule, verify in VERIFY_RULES.items()
    ]


@ranged(multi_asset_check)(name="sized_orders_risk_checks", specs=RISK_CHECK_SPECS, ins={"sized_orders": AssetIn()})
def risk_checks(
    context: AssetCheckExecutionContext,
    sized_orders: pd.DataFrame,
    trading: TradingBook,
    broker: Broker,
    journal: JournalResource,
    accounts: TradingAccounts,
) -> Iterator[AssetCheckResult]:
    limits, costs = trading.limits(), broker.cost_model()
    account = accounts.resolve().account_of(trading.book).limits
    sessions = session_dates(context.partition_keys)
    book = journal.book(context, trading.book)
    journaled = book.read("risk_events", start=sessions[0], end=sessions[-1])
    sizing = journaled[journaled["source"] == "sizing"]
    for rule, verify in VERIFY_RULES.items():
        sized = sizing.loc[
            sizing["rule"] == SIZING_RULE.get(rule, rule),
            ["session", "symbol", "action", "value", "limit_value", "message"],
        ]
        violations = verify(sized_orders, limits, costs, account)
        book.record_risk_events(sessions, f"check:{rule}", violations.assign(action="check_failed"))
        yield AssetCheckResult(
            asset_key="sized_orders",
            check_name=rule,
            passed=violations.empty,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "orders_checked": len(sized_orders),
                "violations": len(violations),
                "details": MetadataValue.md(
                    violations.head(200).to_markdown(index=False) if len(violations) else "none"
                ),
                "sizing_rejections_and_clips": len(sized),
                "sizing_events": MetadataValue.md(sized.head(200).to_markdown(index=False) if len(sized) else "none"),
            },
        )
