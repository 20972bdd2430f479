"""Every run tag the project sets or reads, in one place: what launches a run says, with these, what it is for."""

# Which book a run writes, and the queue's lock: the instance admits one run per value at a time (instance.py).
BOOK_TAG = "trading_pipeline/book"
BOOK_LOCK_TAG = "trading_pipeline/book_lock"
# What kind of run this is for its book: a backtest, or a trading cycle (paper or live).
KIND_TAG = "trading_pipeline/kind"
# A backtest's name and what it varied (JSON), kept with its results (set by the CLI, or by hand on a UI backfill).
BACKTEST_NAME_TAG = "trading_pipeline/backtest_name"
BACKTEST_PARAMETERS_TAG = "trading_pipeline/backtest_parameters"
# Who launched a cycle (schedule, sensor) and, for an intraday cycle, the instant it acts at.
TRIGGER_TAG = "trading_pipeline/trigger"
AS_OF_TAG = "trading_pipeline/as_of"
# The price move an event cycle reacts to.
SYMBOL_TAG = "trading_pipeline/symbol"
MOVE_TAG = "trading_pipeline/move"
PREVIOUS_CLOSE_TAG = "trading_pipeline/previous_close"
PRICE_TAG = "trading_pipeline/price"
# Dagster's own: the partition range of a single-run backfill (how a range is launched as one run).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
BACKFILL_TAG = "dagster/backfill"
# A run that replaces its book from fresh capital ("true": a CLI backtest), rather than continuing it.
FRESH_BOOK_TAG = "trading_pipeline/fresh_book"


def book_tags(book: str) -> dict[str, str]:
    """The tags of a run that writes ``book``: its name, and the queue's lock on it (one run per book at a time)."""
    return {BOOK_TAG: book, BOOK_LOCK_TAG: book}


# A sharded sweep: the id of the run that made its decisions (on its shard and merge runs too), and which part a run is.
SWEEP_ID_TAG = "trading_pipeline/sweep_id"
SWEEP_PART_TAG = "trading_pipeline/sweep_part"
