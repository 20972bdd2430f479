"""Jobs: the daily cycle is the whole graph for a session; its backfill over a range is the backtest.

The intraday and event cycles re-materialize today's intraday partition. Every trading job carries the
``BOOK_LOCK_TAG`` tag: with the run-queue limit proposed for dagster.yaml (one run per value of that
tag) the daily, intraday and event cycles never run at the same time against one account; the intraday
steps also sit in the ``trading_book`` concurrency pool.
"""

from dagster import AssetSelection, define_asset_job, in_process_executor

BOOK_LOCK_TAG = "trading_pipeline/book_lock"
BOOK_LOCK = {BOOK_LOCK_TAG: "trading"}

# In-process: a trading cycle is small, and a subprocess per step would cost seconds each.
daily_cycle = define_asset_job(
    "daily_cycle",
    selection=AssetSelection.groups("market", "signals", "execution", "reporting"),
    executor_def=in_process_executor,
    tags=BOOK_LOCK,
    description="market_bars → … → fills/portfolio → performance_report for one session or a range.",
)

intraday_cycle = define_asset_job(
    "intraday_cycle",
    selection=AssetSelection.groups("intraday"),
    executor_def=in_process_executor,
    tags=BOOK_LOCK,
    description="Every 15 minutes in regular hours: 15-minute bars → protective exits → order status.",
)

event_cycle = define_asset_job(
    "event_cycle",
    selection=AssetSelection.groups("intraday"),
    executor_def=in_process_executor,
    tags=BOOK_LOCK,
    description="Launched by the price-move sensor: the intraday cycle at once, tagged with the symbol and its move.",
)
