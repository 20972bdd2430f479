"""Jobs: the daily cycle is the whole graph for a session; its backfill over a range is the backtest.

The intraday and event cycles re-materialize today's intraday partition. Every trading run carries the
``BOOK_LOCK_TAG`` tag with its book's name: the run queue admits one run per value at a time (instance.py), so the
daily, intraday and event cycles of a book never overlap. The jobs are built for the profile's book (a job
launched by hand carries it); schedules and sensors tag their runs with the book of the ``trading`` resource, and
name their jobs rather than hold them. A run of another book named in its launch config is still held to one
writer by the journal's lock (``journal.books``). The intraday steps also sit in the ``trading_book`` pool.
"""

from dagster import AssetSelection, define_asset_job, in_process_executor

from trading_pipeline.defs.tags import book_tags

DAILY_CYCLE, INTRADAY_CYCLE, EVENT_CYCLE = "daily_cycle", "intraday_cycle", "event_cycle"
DISCOVERY_CYCLE = "discovery_cycle"

_JOBS = {
    DAILY_CYCLE: (
        ("discovery", "market", "signals", "execution", "reporting"),
        "universe → market_bars → … → fills/portfolio → performance_report for one session or a range.",
    ),
    INTRADAY_CYCLE: (
        ("intraday",),
        "Every 15 minutes in regular hours: 15-minute bars → protective exits → order status.",
    ),
    EVENT_CYCLE: (
        ("intraday",),
        "Launched by the price-move sensor: the intraday cycle at once, tagged with the symbol and its move.",
    ),
    DISCOVERY_CYCLE: (
        ("discovery",),
        "Before each session's open: its universe and watchlist, from the close before (the daily cycle redoes them).",
    ),
}


def trading_jobs(book: str) -> list:
    """The daily, intraday and event cycles of ``book``: in-process (a trading cycle is small; a subprocess per
    step would cost seconds each) and book-locked."""
    return [
        define_asset_job(
            name,
            selection=AssetSelection.groups(*groups),
            executor_def=in_process_executor,
            tags=book_tags(book),
            description=description,
        )
        for name, (groups, description) in _JOBS.items()
    ]
