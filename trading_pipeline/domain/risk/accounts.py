"""Broker accounts: which books trade on each, and the limits over all of an account's books together.

An account is a broker account; its keys are named by the environment variables that hold them, never by their
values. Its limits come on top of each book's: the gross value of the positions of all its books, as a fraction of
their combined equity, and, if it declares one, the day's loss of their combined equity. A book is on exactly one
account. Books share an account only when it lists them (``*``: every book no other account lists), and two accounts
may not name the same keys: they would be one broker account declared twice, its books' limits apart.

The other books of an account count as the journal has them at each close (``other_books_by_session``): a book whose
latest journaled session is older still holds what it held then, and lost nothing on a day it did not trade.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EVERY_BOOK = "*"
DEFAULT_ACCOUNT = "default"
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class AccountLimits(BaseModel):
    """Limits over all of an account's books together. The defaults bind no book that pays cash for its positions
    (its gross exposure is within its equity), and a day's loss is limited by each book's own limit only: a daily
    loss limit over several books would let one book's day block the others (in a journal of backtests, whichever
    ran first), so an account has one only when it is declared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_gross_exposure: float = Field(
        default=1.0,
        gt=0.0,
        le=10.0,
        description="Gross value of the positions of all the account's books, as a fraction of their combined "
        "equity (1.0: no leverage).",
    )
    max_daily_loss: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="A day the account's books together lost more than this fraction, none of them takes new risk; "
        "None: each book's own limit only.",
    )


class Account(AccountLimits):
    """One broker account: its name, the variables holding its keys, its books and its limits."""

    name: str = Field(min_length=1, description="The account's name.")
    key_variable: str = Field(default="ALPACA_API_KEY", description="Environment variable holding its key id.")
    secret_variable: str = Field(default="ALPACA_SECRET_KEY", description="Environment variable holding its secret.")
    books: list[str] = Field(
        default=[EVERY_BOOK],
        min_length=1,
        description=f"Its books; {EVERY_BOOK!r}: every book no other account lists.",
    )

    @field_validator("key_variable", "secret_variable")
    @classmethod
    def _variable_name(cls, value: str) -> str:
        if not _VARIABLE.fullmatch(value):
            raise ValueError(f"must name an environment variable (letters, digits, _), got {value!r}")
        return value

    @field_validator("books")
    @classmethod
    def _book_names(cls, books: list[str]) -> list[str]:
        bad = [b for b in books if not b.strip() or b != b.strip()]
        if bad:
            raise ValueError(f"book names must be non-empty without surrounding spaces, got {bad}")
        if len(set(books)) != len(books):
            raise ValueError(f"a book is listed twice: {books}")
        return books

    @model_validator(mode="after")
    def _two_keys(self) -> Account:
        if self.key_variable == self.secret_variable:
            raise ValueError(f"account {self.name!r}: its key and its secret are both read from {self.key_variable}")
        return self

    @property
    def limits(self) -> AccountLimits:
        return AccountLimits(**{name: getattr(self, name) for name in AccountLimits.model_fields})


class Accounts(BaseModel):
    """Every account of the desk; the default is one account, ``default``, holding every book."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accounts: tuple[Account, ...] = (Account(name=DEFAULT_ACCOUNT),)

    @model_validator(mode="after")
    def _one_account_per_book(self) -> Accounts:
        problems: list[str] = []
        names = [a.name for a in self.accounts]
        problems += [f"account {n!r} is declared twice" for n in sorted({n for n in names if names.count(n) > 1})]
        owners: dict[str, str] = {}
        for account in self.accounts:
            for book in account.books:
                if book in owners:
                    what = "every book" if book == EVERY_BOOK else f"book {book!r}"
                    problems.append(f"{what} is on accounts {owners[book]!r} and {account.name!r}: one account each")
                owners.setdefault(book, account.name)
        keys: dict[str, str] = {}
        for account in self.accounts:
            other = keys.setdefault(account.key_variable, account.name)
            if other != account.name:
                problems.append(
                    f"accounts {other!r} and {account.name!r} both use the keys in {account.key_variable}: that is "
                    "one broker account; declare it once, listing all its books"
                )
        if not self.accounts:
            problems.append("no account is declared")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def account_of(self, book: str) -> Account:
        """The account ``book`` trades on (listed by name, else the account holding every other book)."""
        listed = next((a for a in self.accounts if book in a.books), None)
        listed = listed or next((a for a in self.accounts if EVERY_BOOK in a.books), None)
        if listed is None:
            raise ValueError(f"book {book!r} is on no account: list it in one of {[a.name for a in self.accounts]}")
        return listed

    def other_books(self, book: str, known: Iterable[str]) -> list[str]:
        """The books sharing ``book``'s account: those it lists, and for the account holding every book, each
        ``known`` book no other account lists."""
        account = self.account_of(book)
        others = {b for b in account.books if b != EVERY_BOOK}
        if EVERY_BOOK in account.books:
            elsewhere = {b for a in self.accounts if a is not account for b in a.books}
            others |= set(known) - elsewhere
        return sorted(others - {book})


# The limits of a book's account when none is given: the default account's.
DEFAULT_ACCOUNT_LIMITS = AccountLimits()


@dataclass(frozen=True, slots=True)
class OtherBooks:
    """The other books of an account at one close: their gross exposure, equity and equity at the day's start."""

    exposure: float = 0.0
    equity: float = 0.0
    day_start_equity: float = 0.0


NO_OTHER_BOOKS = OtherBooks()
EQUITY_COLUMNS = ["book", "session", "positions_value", "equity"]


def other_books_by_session(equity: pd.DataFrame, sessions: Sequence[date]) -> dict[date, OtherBooks]:
    """The other books summed at each of ``sessions``, from their journaled equity rows (``EQUITY_COLUMNS``).

    Each book counts as of its latest row at or before the session. On a row's own session its day started at its
    previous row's equity (its first row: at its own equity); a book without a row on the session lost nothing that
    day. A long-only book's positions value is its gross exposure. Sessions no book reaches are left out.
    """
    missing = sorted(set(EQUITY_COLUMNS) - set(equity.columns))
    if missing:
        raise ValueError(f"equity rows are missing columns {missing}")
    days = pd.DatetimeIndex(pd.to_datetime(list(sessions)))
    totals = np.zeros((len(days), 3))
    reached_any = np.zeros(len(days), dtype=bool)
    for book, rows in equity.groupby("book", sort=True):
        rows = rows.assign(session=pd.to_datetime(rows["session"])).sort_values("session")
        if rows["session"].duplicated().any():
            raise ValueError(f"equity rows of book {book!r} repeat a session")
        stamps = pd.DatetimeIndex(rows["session"])
        at = stamps.searchsorted(days, side="right") - 1
        reached = at >= 0
        pick = at[reached]
        exposure = rows["positions_value"].to_numpy("float64")[pick]
        value = rows["equity"].to_numpy("float64")[pick]
        previous = rows["equity"].shift(1).fillna(rows["equity"]).to_numpy("float64")[pick]
        same_day = stamps[pick] == days[reached]
        totals[reached] += np.column_stack([np.abs(exposure), value, np.where(same_day, previous, value)])
        reached_any |= reached
    if not np.isfinite(totals).all():
        raise ValueError("equity rows of the account's other books hold missing or infinite values")
    return {
        day.date(): OtherBooks(*map(float, row))
        for day, row, reached in zip(days, totals, reached_any, strict=True)
        if reached
    }
