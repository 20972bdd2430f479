"""What the sizing and execution steps start from: the book before the range, its account, and the prices."""

from datetime import date

import pandas as pd
from dagster import AssetIn

from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.domain.book import BookState
from trading_pipeline.domain.engine import PricePanels
from trading_pipeline.domain.risk.accounts import Account, Accounts, OtherBooks, other_books_by_session
from trading_pipeline.journal import Journal
from trading_pipeline.journal.books import BookJournal, committed_books, committed_equity


def starting_book(journal: BookJournal, trading: TradingBook, first_session: date) -> BookState:
    """The book as journaled after the latest session before the range, or fresh capital."""
    saved = journal.load_state(before=first_session)
    if saved is None:
        return BookState.initial(trading.book, trading.initial_capital)
    return BookState.from_dict(saved[1])


def account_around(
    journal: Journal, accounts: Accounts, book: str, sessions: list[date]
) -> tuple[Account, dict[date, OtherBooks]]:
    """``book``'s account and, at each of ``sessions``, its other books as the journal has them committed."""
    account = accounts.account_of(book)
    others = accounts.other_books(book, committed_books(journal))
    if not others:
        return account, {}
    return account, other_books_by_session(committed_equity(journal, others, sessions[-1]), sessions)


PRICE_COLUMNS = ["open", "high", "low", "close"]


def indicator_prices(*extra: str) -> AssetIn:
    """The indicators input of a book step: the prices (and ``extra`` columns) only, not every indicator."""
    return AssetIn(metadata={"columns": [*PRICE_COLUMNS, *extra]})


def price_panels(indicators: pd.DataFrame, sessions: list[date]) -> PricePanels:
    """Wide OHLC prices (sessions x symbols) of the tradable bars; NaN where not tradable.

    ``indicators`` holds only bars that passed validation, so a quarantined bar is never a fill price.
    """
    return PricePanels.from_bars(indicators, sessions)
