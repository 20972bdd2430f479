"""Jobs: the daily cycle is the whole graph for a session; its backfill over a range is the backtest.

The intraday and event cycles re-materialize today's intraday partition. Every trading run carries the
``BOOK_LOCK_TAG`` tag with its book's name: the run queue admits one run per value at a time (instance.py), so the
daily, intraday and event cycles of a book never overlap. Schedules and sensors tag their runs with the book of
the ``trading`` resource; a job launched by hand carries the default book's tag (a run of another book named in
its launch config is still held to one writer by the journal's lock, ``journal.books``). The intraday steps also
sit in the ``trading_book`` concurrency pool.
"""

from dagster import AssetSelection, define_asset_job, in_process_executor

from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.tags import book_tags

DEFAULT_BOOK = TradingBook.model_fields["book"].default


def _trading_job(name: str, groups: tuple[str, ...], description: str):
    """In-process (a trading cycle is small; a subprocess per step would cost seconds each) and book-locked."""
    return define_asset_job(
        name,
        selection=AssetSelection.groups(*groups),
        executor_def=in_process_executor,
        tags=book_tags(DEFAULT_BOOK),
        description=description,
    )


daily_cycle = _trading_job(
    "daily_cycle",
    ("market", "signals", "execution", "reporting"),
    "market_bars → … → fills/portfolio → performance_report for one session or a range.",
)
intraday_cycle = _trading_job(
    "intraday_cycle",
    ("intraday",),
    "Every 15 minutes in regular hours: 15-minute bars → protective exits → order status.",
)
event_cycle = _trading_job(
    "event_cycle",
    ("intraday",),
    "Launched by the price-move sensor: the intraday cycle at once, tagged with the symbol and its move.",
)
