"""The one Definitions of trading_pipeline: every asset, check, job and resource, assembled here."""

from dagster import Definitions, in_process_executor

from trading_pipeline.defs.execution.breaker_reset import reset_circuit_breaker_job
from trading_pipeline.defs.execution.execution import execution
from trading_pipeline.defs.execution.halts import halt_trading_job, resume_trading_job
from trading_pipeline.defs.execution.reconciliation import positions_reconciled
from trading_pipeline.defs.execution.risk_checks import risk_checks
from trading_pipeline.defs.execution.sized_orders import sized_orders
from trading_pipeline.defs.intraday.assets import INTRADAY_ASSETS
from trading_pipeline.defs.jobs import daily_cycle, event_cycle, intraday_cycle
from trading_pipeline.defs.market.bar_checks import bars_valid
from trading_pipeline.defs.market.market_bars import market_bars
from trading_pipeline.defs.reporting.audit_report import audit_report
from trading_pipeline.defs.reporting.performance_report import performance_report
from trading_pipeline.defs.resources.accounts import TradingAccounts
from trading_pipeline.defs.resources.alerts import Alerter
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import SimulatedBroker
from trading_pipeline.defs.resources.intraday_data import ReplayIntradayData
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.market_data import ReplayMarketData
from trading_pipeline.defs.resources.narrative import TemplateNarrator
from trading_pipeline.defs.resources.order_updates import SimulatedOrderUpdates
from trading_pipeline.defs.resources.review import NoReview
from trading_pipeline.defs.resources.selector import RuleBasedSelector
from trading_pipeline.defs.resources.session_store import SessionParquetIOManager
from trading_pipeline.defs.resources.strategies import StrategyCatalog
from trading_pipeline.defs.schedules import SCHEDULES
from trading_pipeline.defs.sensors import SENSORS
from trading_pipeline.defs.signals.indicators import indicators
from trading_pipeline.defs.signals.market_context import market_context
from trading_pipeline.defs.signals.signals import signals
from trading_pipeline.defs.signals.strategy_selection import strategy_selection
from trading_pipeline.defs.signals.validated_signals import validated_signals

# The offline defaults: bundled real bars, rule-based selection, simulated broker, SQLite journal.
DEFAULT_RESOURCES = {
    "market_data": ReplayMarketData(),
    "selector": RuleBasedSelector(),  # GroqSelector(api_key=EnvVar("GROQ_API_KEY")) to let Groq choose
    "reviewer": NoReview(),  # AnthropicReviewer(api_key=EnvVar("ANTHROPIC_API_KEY"))
    "narrator": TemplateNarrator(),  # AnthropicNarrator(api_key=EnvVar("ANTHROPIC_API_KEY"))
    "broker": SimulatedBroker(),
    "trading": TradingBook(),
    # One account, "default", holding every book; list accounts (their key variables, books, limits) to split them.
    "accounts": TradingAccounts(),
    # A deployment sets TRADING_JOURNAL_URL (e.g. PostgreSQL); read at run time, never stored in the definitions.
    "journal": JournalResource(),
    "session_store": SessionParquetIOManager(),
    "strategies": StrategyCatalog(),  # StrategyCatalog(plugins=["my_strategies:sma_cross"]) adds yours
    # Intraday: the bundled SPY minute bars; AlpacaIntradayData(market_data=AlpacaMarketData.from_env(...)) live.
    "intraday_data": ReplayIntradayData(),
    "order_updates": SimulatedOrderUpdates(),  # AlpacaOrderUpdates(broker=AlpacaBroker.from_env())
    # Failed-run alerts always reach the journal; TRADING_ALERT_WEBHOOK_URL adds a Slack-compatible webhook.
    "alerter": Alerter(),
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
    audit_report,
]
CHECKS = [bars_valid, risk_checks, positions_reconciled]

defs = Definitions(
    assets=[*ASSETS, *INTRADAY_ASSETS],
    asset_checks=CHECKS,
    jobs=[
        daily_cycle,
        intraday_cycle,
        event_cycle,
        reset_circuit_breaker_job,
        halt_trading_job,
        resume_trading_job,
    ],
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=DEFAULT_RESOURCES,
    # Backfills launched from the UI run in-process too: a subprocess per step costs seconds each and a
    # trading cycle's steps are small (a crash still fails the run, visibly).
    executor=in_process_executor,
)
