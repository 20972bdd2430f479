"""Broker accounts: which books share one (declared, or refused when the configuration loads), the other books at
each close, and the account's limits in the sizing and in the independent verification, derived by hand."""

from dataclasses import replace
from datetime import date

import pandas as pd
import pytest
from pydantic import ValidationError

from trading_pipeline.domain.book import orders_to_frame
from trading_pipeline.domain.risk.accounts import (
    Account,
    AccountLimits,
    Accounts,
    OtherBooks,
    other_books_by_session,
)
from trading_pipeline.domain.risk.limits import RiskLimits
from trading_pipeline.domain.risk.sizing import size_orders
from trading_pipeline.domain.risk.verification import (
    verify_account_daily_loss,
    verify_account_gross_exposure,
    verify_orders,
)
from trading_pipeline_tests.domain.test_risk import COSTS, D, frame, marked_book, random_case, signal

LIMITS = RiskLimits()
SHARED = Account(name="shared", key_variable="SHARED_KEY", secret_variable="SHARED_SECRET", books=["a", "b"])


# ---- configuration ------------------------------------------------------------------------------------


def test_by_default_one_account_holds_every_book():
    accounts = Accounts()
    assert accounts.account_of("anything").name == "default"
    assert accounts.account_of("anything").limits == AccountLimits(max_gross_exposure=1.0, max_daily_loss=None)
    assert accounts.other_books("a", known=["a", "b", "c"]) == ["b", "c"]


def test_books_share_an_account_only_when_it_lists_them():
    accounts = Accounts(accounts=(SHARED, Account(name="default")))
    assert accounts.account_of("a") == SHARED and accounts.account_of("b") == SHARED
    assert accounts.other_books("a", known=["a", "b", "c", "d"]) == ["b"]  # not c, d: they are on "default"
    assert accounts.other_books("c", known=["a", "b", "c", "d"]) == ["d"]
    alone = Accounts(accounts=(SHARED,))
    with pytest.raises(ValueError, match="book 'z' is on no account: list it in one of \\['shared'\\]"):
        alone.account_of("z")


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        ((SHARED, SHARED.model_copy(update={"key_variable": "K2"})), "account 'shared' is declared twice"),
        (
            (SHARED, Account(name="other", key_variable="K2", secret_variable="S2", books=["b"])),
            "book 'b' is on accounts 'shared' and 'other': one account each",
        ),
        ((Account(name="x"), Account(name="y", key_variable="K2")), "every book is on accounts 'x' and 'y'"),
        (
            (SHARED, Account(name="again", key_variable="SHARED_KEY", secret_variable="S2", books=["c"])),
            "accounts 'shared' and 'again' both use the keys in SHARED_KEY: that is one broker account",
        ),
        ((), "no account is declared"),
    ],
)
def test_an_inconsistent_configuration_is_refused_when_it_loads(accounts, message):
    with pytest.raises(ValidationError, match=message):
        Accounts(accounts=accounts)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key_variable": "PK-ABC=secret"}, "must name an environment variable"),
        ({"secret_variable": "ALPACA_API_KEY"}, "its key and its secret are both read from ALPACA_API_KEY"),
        ({"books": []}, "at least 1 item"),
        ({"books": ["a", "a"]}, "a book is listed twice"),
        ({"books": [" a"]}, "without surrounding spaces"),
        ({"max_gross_exposure": 0.0}, "greater than 0"),
        ({"max_daily_loss": 1.5}, "less than or equal to 1"),
    ],
)
def test_a_bad_account_is_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        Account(name="x", **fields)


# ---- the other books at each close ---------------------------------------------------------------------


def test_other_books_count_as_of_their_latest_row_and_lose_nothing_on_days_they_did_not_trade():
    rows = pd.DataFrame(
        {
            "book": ["x", "x", "x", "y"],
            "session": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-05", "2024-01-03"]),
            "positions_value": [50.0, 40.0, 45.0, 0.0],
            "equity": [100.0, 90.0, 95.0, 200.0],
        }
    )
    days = [date(2023, 12, 29), date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)]
    assert other_books_by_session(rows, days) == {
        # x's first row: its day starts at its own equity; y has no row yet.
        date(2024, 1, 2): OtherBooks(exposure=50.0, equity=100.0, day_start_equity=100.0),
        # x's day started at 100 (its previous row); y's first row.
        date(2024, 1, 3): OtherBooks(exposure=40.0, equity=290.0, day_start_equity=300.0),
        # neither traded: both as on the 3rd, no loss on the day.
        date(2024, 1, 4): OtherBooks(exposure=40.0, equity=290.0, day_start_equity=290.0),
        date(2024, 1, 5): OtherBooks(exposure=45.0, equity=295.0, day_start_equity=290.0),
    }  # 2023-12-29: no book had a row yet, so it is left out
    with pytest.raises(ValueError, match="missing columns \\['positions_value'\\]"):
        other_books_by_session(rows.drop(columns="positions_value"), days)
    with pytest.raises(ValueError, match="book 'y' repeat a session"):
        other_books_by_session(pd.concat([rows, rows.tail(1)]), days)


# ---- the account's limits in the sizing and the verification -------------------------------------------

OTHERS = OtherBooks(exposure=40_000.0, equity=50_000.0, day_start_equity=50_000.0)
LOSS_LIMITED = AccountLimits(max_daily_loss=0.05)


def test_the_gross_exposure_counts_the_other_books_positions():
    book = marked_book(100_000.0)
    signals = frame(signal("AAA"), signal("BBB", confidence=0.4))  # 333 × 10 = 3,330 and 266 × 10 = 2,660
    tight = AccountLimits(max_gross_exposure=0.3)
    alone, events = size_orders(book, D, signals, LIMITS, COSTS, account=tight)
    assert [(o.symbol, o.qty) for o in alone] == [("AAA", 333.0), ("BBB", 266.0)] and events == []

    orders, events = size_orders(book, D, signals, LIMITS, COSTS, account=tight, others=OTHERS)
    # Room: 0.3 × (50,000 + 100,000) − 40,000 = 5,000; AAA (stronger) takes 3,330, BBB gets 1,670 → 167 shares.
    assert [(o.symbol, o.qty) for o in orders] == [("AAA", 333.0), ("BBB", 167.0)]
    (event,) = events
    assert (event.symbol, event.rule, event.action) == ("BBB", "account_gross_exposure", "clipped")
    assert (event.value, event.limit) == (pytest.approx(40_000 + 3_330 + 2_660), pytest.approx(45_000))
    snapshot = {(o.account_exposure_before, o.account_equity, o.account_day_start_equity) for o in orders}
    assert snapshot == {(40_000.0, 150_000.0, 150_000.0)}
    table = orders_to_frame(orders)
    assert verify_orders(table, LIMITS, COSTS, tight).empty
    # 40,000 + 3,330 + 1,670 = 45,000 is over 0.29 × 150,000 = 43,500: the same orders on a tighter account fail.
    (row,) = verify_account_gross_exposure(table, LIMITS, COSTS, AccountLimits(max_gross_exposure=0.29)).itertuples()
    assert (row.rule, row.value, row.limit) == ("account_gross_exposure", pytest.approx(45_000), pytest.approx(43_500))

    full = OtherBooks(exposure=45_000.0, equity=50_000.0, day_start_equity=50_000.0)
    orders, events = size_orders(book, D, signals, LIMITS, COSTS, account=tight, others=full)
    assert orders == [] and [(e.symbol, e.action) for e in events] == [("AAA", "rejected"), ("BBB", "rejected")]


def test_a_day_the_account_lost_too_much_takes_no_new_risk_in_any_of_its_books():
    book = replace(marked_book(99_000.0, {"HELD": (50.0, 20.0)}), day_start_equity=100_000.0)  # the book: −0%
    signals = frame(signal("AAA"), signal("HELD", "SELL"))
    losing = OtherBooks(exposure=0.0, equity=40_000.0, day_start_equity=50_000.0)
    orders, events = size_orders(book, D, signals, LIMITS, COSTS, account=LOSS_LIMITED, others=losing)
    # The account: (40,000 + 100,000) ÷ (50,000 + 100,000) − 1 = −6.67% < −5%: the buy goes, the sell stays.
    assert [(o.symbol, o.side) for o in orders] == [("HELD", "sell")]
    (event,) = events
    assert (event.symbol, event.rule, event.action) == ("AAA", "account_daily_loss", "rejected")
    assert (event.value, event.limit) == (pytest.approx(140 / 150 - 1), -0.05)
    # An account without a daily loss limit of its own (the default): only the book's day counts.
    orders, events = size_orders(book, D, signals, LIMITS, COSTS, others=losing)
    assert [(o.symbol, o.side) for o in orders] == [("HELD", "sell"), ("AAA", "buy")] and events == []
    assert verify_account_daily_loss(orders_to_frame(orders), LIMITS, COSTS).empty

    milder = OtherBooks(exposure=0.0, equity=40_000.0, day_start_equity=42_000.0)  # 140 ÷ 142 − 1 = −1.4%
    orders, events = size_orders(book, D, signals, LIMITS, COSTS, account=LOSS_LIMITED, others=milder)
    assert [(o.symbol, o.side) for o in orders] == [("HELD", "sell"), ("AAA", "buy")] and events == []
    table = orders_to_frame(orders)
    assert verify_account_daily_loss(table, LIMITS, COSTS, LOSS_LIMITED).empty
    forged = table.assign(account_day_start_equity=150_000.0)  # as if the account's day had started at 150,000
    (row,) = verify_account_daily_loss(forged, LIMITS, COSTS, LOSS_LIMITED).itertuples()
    assert (row.symbol, row.value, row.limit) == ("AAA", pytest.approx(140 / 150 - 1), -0.05)
    tighter = AccountLimits(max_daily_loss=0.01)  # −1.4% is past 1%
    assert verify_account_daily_loss(table, LIMITS, COSTS, tighter)["symbol"].tolist() == ["AAA"]


def test_the_books_own_daily_loss_is_named_before_the_accounts():
    book = replace(marked_book(100_000.0), day_start_equity=110_000.0)  # the book lost 9.1%
    _, events = size_orders(book, D, frame(signal("AAA")), LIMITS, COSTS, account=LOSS_LIMITED, others=OTHERS)
    assert [e.rule for e in events] == ["daily_loss_limit"]


@pytest.mark.parametrize("seed", range(20))
def test_the_default_account_adds_nothing_to_a_book_alone(seed):
    book, session, signals, limits = random_case(seed)
    unbound = AccountLimits(max_gross_exposure=10.0)
    assert size_orders(book, session, signals, limits, COSTS) == size_orders(
        book, session, signals, limits, COSTS, account=unbound
    )
