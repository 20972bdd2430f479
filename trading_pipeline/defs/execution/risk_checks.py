"""Blocking risk checks on sized_orders: an independent re-verification of every final order.

The sizing step already clips orders to the limits; these checks recompute each rule from the orders'
decision-time snapshot without calling the sizing code (defence in depth). A failure is ERROR severity
and blocking, so the execution step of the same run never starts, and it is journaled.
"""

from collections.abc import Callable

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    MetadataValue,
    asset_check,
)

from trading_pipeline.defs.execution.sized_orders import sized_orders
from trading_pipeline.defs.partitions import session_dates, sessions_partitions
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import Broker
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.risk import VERIFY_RULES, RiskLimits

Verifier = Callable[[pd.DataFrame, RiskLimits, CostModel], pd.DataFrame]


def _risk_check(rule: str, verify: Verifier) -> AssetChecksDefinition:
    @asset_check(
        asset=sized_orders,
        name=rule,
        description=(verify.__doc__ or rule).strip().splitlines()[0],
        blocking=True,
        partitions_def=sessions_partitions,
    )
    def _check(
        context: AssetCheckExecutionContext,
        sized_orders: pd.DataFrame,
        trading: TradingBook,
        broker: Broker,
        journal: JournalResource,
    ) -> AssetCheckResult:
        violations = verify(sized_orders, trading.limits(), broker.cost_model())
        journal.record_risk_events(
            trading.book,
            session_dates(context.partition_keys),
            f"check:{rule}",
            violations.assign(action="check_failed"),
            context.run.run_id,
        )
        return AssetCheckResult(
            passed=violations.empty,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "orders_checked": len(sized_orders),
                "violations": len(violations),
                "details": MetadataValue.md(violations.head(200).to_markdown(index=False) if len(violations) else "none"),
            },
        )

    return _check


risk_checks = [_risk_check(rule, verify) for rule, verify in VERIFY_RULES.items()]
