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
from trading_pipeline.domain import risk
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.risk import RiskLimits

Verifier = Callable[[pd.DataFrame, RiskLimits, CostModel], pd.DataFrame]

RULES: dict[str, tuple[Verifier, str]] = {
    "risk_per_trade": (risk.verify_risk_per_trade, "Loss at the stop of each buy is at most risk_per_trade of equity."),
    "position_limit": (risk.verify_position_limit, "No position exceeds max_position_pct of equity."),
    "max_shares_per_order": (risk.verify_max_shares_per_order, "No order exceeds max_shares_per_order."),
    "max_open_positions": (risk.verify_max_open_positions, "No session ends with more than max_open_positions."),
    "cash": (risk.verify_cash, "Each session's buys, with costs, fit in the cash available at decision."),
    "min_confidence": (risk.verify_min_confidence, "Every buy has at least min_confidence."),
}


def _risk_check(rule: str, verify: Verifier, description: str) -> AssetChecksDefinition:
    @asset_check(
        asset=sized_orders,
        name=rule,
        description=description,
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
        journal.journal.record_risk_events(
            trading.book,
            session_dates(context.partition_keys),
            f"check:{rule}",
            violations.assign(action="check_failed").rename(columns={"limit": "limit_value"}),
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


risk_checks = [_risk_check(rule, verify, text) for rule, (verify, text) in RULES.items()]
