"""Two books on one account through Dagster: the account's gross exposure limit binds them together, the second
book sized with the first's positions and equity as the journal has them; a book on two accounts is refused."""

import pandas as pd
import pytest
from pydantic import ValidationError

from trading_pipeline.defs.resources.accounts import AccountConfig, TradingAccounts
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline_tests.cycles import run_cycle

START, END = "2012-07-02", "2012-09-28"
LIMIT = 0.2  # the book alone invests up to ~31% of its equity in this quarter: 20% binds
ACCOUNTS = TradingAccounts(
    accounts=[
        AccountConfig(name="shared", key_variable="SHARED_KEY", secret_variable="SHARED_SECRET", books=["a", "b"],
                      max_gross_exposure=LIMIT),
        AccountConfig(name="solo", books=["c"], max_gross_exposure=LIMIT),
    ]
)  # fmt: skip


def test_two_books_on_one_account_keep_their_combined_gross_exposure_within_its_limit(instance):
    runs = {book: run_cycle(instance, START, END, trading=TradingBook(book=book), accounts=ACCOUNTS) for book in "abc"}
    assert all(r.result.success and r.failed_checks() == [] for r in runs.values())
    equity = {book: r.table("equity").set_index("session") for book, r in runs.items()}

    # Recomputed from the journal: at each session b bought, a's and b's positions plus b's buys (at their
    # reference prices) stay within 20% of their combined equity.
    orders = runs["b"].table("orders")
    buys = orders[orders["side"] == "buy"].assign(value=lambda o: o["qty"] * o["ref_price"])
    bought = buys.groupby("session")["value"].sum()
    assert len(bought) > 3
    a, b = equity["a"].loc[bought.index], equity["b"].loc[bought.index]
    combined = a["positions_value"] + b["positions_value"] + bought
    assert (combined <= LIMIT * (a["equity"] + b["equity"]) * (1 + 1e-9)).all()

    # Where the account refused or clipped one of b's buys, its limit was 20% of both books' equity together.
    events = runs["b"].table("risk_events")
    bound = events[events["rule"] == "account_gross_exposure"].set_index("session")
    assert len(bound)
    both = equity["a"].loc[bound.index, "equity"] + equity["b"].loc[bound.index, "equity"]
    assert bound["limit_value"].to_numpy() == pytest.approx((LIMIT * both).to_numpy())
    held = equity["a"].loc[bound.index, "positions_value"] + equity["b"].loc[bound.index, "positions_value"]
    assert (bound["value"] >= held).all()  # the exposure it refused counts a's positions too

    # The limit is the account's, not each book's: where a held less than its share, b used the room, so b went
    # further than c, alone on an account with the same limit and the same signals.
    share = {book: (e["positions_value"] / e["equity"]).max() for book, e in equity.items()}
    assert share["c"] < share["b"] and share["a"] == pytest.approx(share["c"])


def test_a_book_on_two_accounts_is_refused_when_the_configuration_loads():
    with pytest.raises(ValidationError, match="book 'a' is on accounts 'x' and 'y': one account each"):
        TradingAccounts(
            accounts=[
                AccountConfig(name="x", books=["a"]),
                AccountConfig(name="y", key_variable="Y_KEY", secret_variable="Y_SECRET", books=["a", "b"]),
            ]
        )
    assert TradingAccounts().resolve().account_of("anything").name == "default"  # none configured: one for all


def test_the_default_account_leaves_a_book_alone_as_it_was(instance):
    """Every book on the one default account: a second book over the same sessions is sized as if alone."""
    first = run_cycle(instance, START, END, trading=TradingBook(book="first"))
    second = run_cycle(instance, START, END, trading=TradingBook(book="second"))
    columns = ["session", "symbol", "side", "qty", "ref_price"]
    pd.testing.assert_frame_equal(first.table("orders")[columns], second.table("orders")[columns])
