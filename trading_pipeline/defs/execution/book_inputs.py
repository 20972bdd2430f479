"""What the sizing and execution steps both start from: the book before the range, and the prices."""

from datetime import date

import pandas as pd
from dagster import AssetIn

from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.domain.book import BookState
from trading_pipeline.domain.engine import PricePanels
from trading_pipeline.journal.books import BookJournal


def starting_book(journal: BookJournal, trading: TradingBook, first_session: date) -> BookState:
    """The book as journaled after the latest session before the range, or fresh capital."""
    saved = journal.load_state(before=first_session)
    if saved is None:
        return BookState.initial(trading.book, trading.initial_capital)
    return BookState.from_dict(saved[1])


PRICE_COLUMNS = ["open", "high", "low", "close"]


def indicator_prices(*extra: str) -> AssetIn:
    """The indicators input of a book step: the prices (and ``extra`` columns) only, not every indicator."""
    return AssetIn(metadata={"columns": [*PRICE_COLUMNS, *extra]})


def price_panels(indicators: pd.DataFrame, sessions: list[date]) -> PricePanels:
    """Wide OHLC prices (sessions x symbols) of the tradable bars; NaN where not tradable.

    ``indicators`` holds only bars that passed validation, so a quarantined bar is never a fill price.
    """
    return PricePanels.from_bars(indicators, sessions)
