"""The one Definitions of trading_pipeline: every asset, check, job and resource, assembled here.

``TRADING_PROFILE`` (offline, paper or live; ``defs/profiles.py``) is read here and only here: it picks the
complete resource set and the book the jobs are locked to. A profile that lacks a key fails the load, naming it.
"""

from dagster import Definitions, in_process_executor

from trading_pipeline.defs.discovery.schedules import DISCOVERY_SCHEDULES, DISCOVERY_SENSORS
from trading_pipeline.defs.discovery.universe import universe
from trading_pipeline.defs.discovery.watchlist import watchlist
from trading_pipeline.defs.execution.breaker_reset import reset_circuit_breaker_job
from trading_pipeline.defs.execution.execution import execution
from trading_pipeline.defs.execution.halts import halt_trading_job, resume_trading_job
from trading_pipeline.defs.execution.protection import positions_protected
from trading_pipeline.defs.execution.reconciliation import positions_reconciled
from trading_pipeline.defs.execution.risk_checks import risk_checks
from trading_pipeline.defs.execution.sized_orders import sized_orders
from trading_pipeline.defs.intraday.assets import INTRADAY_ASSETS
from trading_pipeline.defs.jobs import trading_jobs
from trading_pipeline.defs.market.bar_checks import bars_valid
from trading_pipeline.defs.market.market_bars import market_bars
from trading_pipeline.defs.profiles import Profile, current, offline
from trading_pipeline.defs.reporting.audit_report import audit_report
from trading_pipeline.defs.reporting.performance_report import performance_report
from trading_pipeline.defs.reporting.tearsheet import weekly_tearsheet_job, weekly_tearsheet_schedule
from trading_pipeline.defs.research.sweep_results import sweep_job, sweep_results
from trading_pipeline.defs.research.sweep_shards import sweep_merge_job, sweep_shard_job, sweep_shards_sensor
from trading_pipeline.defs.schedules import SCHEDULES
from trading_pipeline.defs.sensors import SENSORS
from trading_pipeline.defs.signals.indicators import indicators
from trading_pipeline.defs.signals.market_context import market_context
from trading_pipeline.defs.signals.news_sentiment import news_sentiment
from trading_pipeline.defs.signals.setup_memory import setup_memory
from trading_pipeline.defs.signals.signals import signals
from trading_pipeline.defs.signals.strategy_selection import strategy_selection
from trading_pipeline.defs.signals.validated_signals import validated_signals

# The offline resources, whatever the profile: tests and the backtest CLI start from them.
DEFAULT_RESOURCES = offline().resources

ASSETS = [
    universe,
    watchlist,
    market_bars,
    indicators,
    market_context,
    setup_memory,
    news_sentiment,
    strategy_selection,
    signals,
    validated_signals,
    sized_orders,
    execution,
    performance_report,
    audit_report,
]
# Research: not part of the daily cycle; the sweep job materializes it with the decisions.
RESEARCH_ASSETS = [sweep_results]
CHECKS = [bars_valid, risk_checks, positions_reconciled, positions_protected]


def build_defs(profile: Profile) -> Definitions:
    """Everything, bound to ``profile``'s resources and book (the CLI and tests build other profiles' too)."""
    return Definitions(
        assets=[*ASSETS, *INTRADAY_ASSETS, *RESEARCH_ASSETS],
        asset_checks=CHECKS,
        jobs=[
            *trading_jobs(profile.book),
            sweep_job,
            sweep_shard_job,
            sweep_merge_job,
            reset_circuit_breaker_job,
            halt_trading_job,
            resume_trading_job,
            weekly_tearsheet_job,
        ],
        schedules=[*SCHEDULES, *DISCOVERY_SCHEDULES, weekly_tearsheet_schedule],
        sensors=[*SENSORS, *DISCOVERY_SENSORS, sweep_shards_sensor],
        resources=profile.resources,
        # Backfills launched from the UI run in-process too: a subprocess per step costs seconds each and a
        # trading cycle's steps are small (a crash still fails the run, visibly).
        executor=in_process_executor,
    )


PROFILE = current()
defs = build_defs(PROFILE)
