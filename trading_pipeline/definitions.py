"""The one Definitions of trading_pipeline: every asset, check, job and resource, assembled here."""

from dagster import Definitions

from trading_pipeline.defs.execution.execution import execution
from trading_pipeline.defs.execution.risk_checks import risk_checks
from trading_pipeline.defs.execution.sized_orders import sized_orders
from trading_pipeline.defs.jobs import daily_cycle
from trading_pipeline.defs.market.bar_checks import bars_valid
from trading_pipeline.defs.market.market_bars import market_bars
from trading_pipeline.defs.reporting.performance_report import performance_report
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import SimulatedBroker
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.market_data import ReplayMarketData
from trading_pipeline.defs.resources.selector import RuleBasedSelector
from trading_pipeline.defs.resources.session_store import SessionParquetIOManager
from trading_pipeline.defs.signals.indicators import indicators
from trading_pipeline.defs.signals.market_context import market_context
from trading_pipeline.defs.signals.signals import signals
from trading_pipeline.defs.signals.strategy_selection import strategy_selection
from trading_pipeline.defs.signals.validated_signals import validated_signals

# The offline defaults: bundled real bars, rule-based selection, simulated broker, SQLite journal.
DEFAULT_RESOURCES = {
    "market_data": ReplayMarketData(),
    "selector": RuleBasedSelector(),
    "broker": SimulatedBroker(),
    "trading": TradingBook(),
    "journal": JournalResource(),
    "session_store": SessionParquetIOManager(),
}

ASSETS = [
    market_bars,
    indicators,
    market_context,
    strategy_selection,
    signals,
    validated_signals,
    sized_orders,
    execution,
    performance_report,
]
CHECKS = [bars_valid, risk_checks]

defs = Definitions(assets=ASSETS, asset_checks=CHECKS, jobs=[daily_cycle], resources=DEFAULT_RESOURCES)
