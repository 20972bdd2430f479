"""Jobs: the daily cycle is the whole graph for a session; its backfill over a range is the backtest."""

from dagster import AssetSelection, define_asset_job, in_process_executor

# In-process: a trading cycle is small, and a subprocess per step would cost seconds each.
daily_cycle = define_asset_job(
    "daily_cycle",
    selection=AssetSelection.groups("market", "signals", "execution", "reporting"),
    executor_def=in_process_executor,
    description="market_bars → … → fills/portfolio → performance_report for one session or a range.",
)
