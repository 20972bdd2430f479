"""One run's journal of one book: staged until it commits, one writer at a time, a book's kind kept."""

from datetime import date

import pandas as pd
import pytest

from trading_pipeline.journal import Journal
from trading_pipeline.journal.books import (
    BookJournal,
    BookKindError,
    BookLocked,
    LockHolder,
    RunScope,
    book_kind,
    committed_books,
    committed_equity,
    lock_holder,
    run_rows,
    stale_heartbeat,
)

D1, D2, D3 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)


def never_gone(holder: LockHolder) -> str | None:
    return None


def always_gone(holder: LockHolder) -> str | None:
    return f"run {holder.run_id} ended FAILURE"


@pytest.fixture
def journal(tmp_path) -> Journal:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    journal.create_schema()
    return journal


def equity(*sessions: date, value: float = 100.0) -> pd.DataFrame:
    return pd.DataFrame(
        {"session": list(sessions), "cash": value, "positions_value": 0.0, "equity": value, "peak_equity": value,
         "drawdown": 0.0}
    )  # fmt: skip


def order(client_order_id: str, session: date, status: str = "submitted") -> pd.DataFrame:
    return pd.DataFrame(
        {"client_order_id": [client_order_id], "session": [session], "symbol": ["AAA"], "side": ["buy"], "qty": [1.0],
         "order_type": ["market"], "ref_price": [10.0], "strategy": ["Breakout"], "confidence": [0.5],
         "status": [status], "reason": ["r"]}
    )  # fmt: skip


def opened(journal: Journal, run_id: str, first: date, last: date, fresh: bool = False, gone=never_gone) -> BookJournal:
    book = BookJournal(journal, RunScope("bk", run_id, staged=True, first=first, last=last, fresh=fresh))
    book.open(pid=1, host="test-host", gone=gone)
    return book


def committed(journal: Journal, table: str = "equity") -> pd.DataFrame:
    return journal.read(table, book="bk")


def test_a_staged_run_is_invisible_until_it_commits_then_replaces_only_its_sessions(journal):
    first = opened(journal, "run-1", D1, D2)
    first.replace("equity", [D1, D2], equity(D1, D2, value=100.0))
    assert committed(journal).empty and len(first.read("equity")) == 2  # the run sees its own rows
    first.commit("simulated", 100.0)
    first.release()
    assert committed(journal)["equity"].tolist() == [100.0, 100.0]

    second = opened(journal, "run-2", D2, D3)
    second.replace("equity", [D2, D3], equity(D2, D3, value=200.0))
    # Before it commits, the run reads the book's committed D1 under its own D2 and D3; the book is unchanged.
    assert second.read("equity")["equity"].tolist() == [100.0, 200.0, 200.0]
    assert committed(journal)["equity"].tolist() == [100.0, 100.0]
    second.commit("simulated", 100.0)
    assert committed(journal)["equity"].tolist() == [100.0, 200.0, 200.0]
    assert set(committed(journal)["run_id"]) == {"run-1", "run-2"}


def test_a_fresh_run_replaces_the_whole_book_and_sees_none_of_it_before(journal):
    first = opened(journal, "run-1", D1, D3)
    first.replace("equity", [D1, D2, D3], equity(D1, D2, D3))
    first.save_book_states({D3: {"cash": 1.0}})
    first.commit("simulated", 100.0)
    first.release()
    fresh = opened(journal, "run-2", D2, D2, fresh=True)
    assert fresh.read("equity").empty and fresh.load_state(before=D3) is None  # fresh capital
    fresh.replace("equity", [D2], equity(D2, value=5.0))
    fresh.commit("simulated", 100.0)
    assert committed(journal)[["session", "equity"]].to_dict("records") == [
        {"session": pd.Timestamp(D2), "equity": 5.0}
    ]
    assert journal.read("book_states", book="bk").empty


def test_a_run_that_never_commits_leaves_the_book_and_its_rows_are_kept_until_the_next_is_abandoned(journal):
    good = opened(journal, "good", D1, D1)
    good.replace("equity", [D1], equity(D1))
    good.commit("simulated", 100.0)
    good.release()
    for run_id in ("failed-1", "failed-2"):
        failed = opened(journal, run_id, D1, D1, fresh=True)
        failed.replace("equity", [D1], equity(D1, value=1.0))
        failed.release()  # the run ends without committing (a check blocked it, a step failed)
    assert committed(journal)["equity"].tolist() == [100.0] and committed(journal)["run_id"].tolist() == ["good"]
    opened(journal, "next", D2, D2)  # opening the book abandons failed-2 and sweeps failed-1
    assert run_rows(journal, "bk", "failed-2", "equity")["equity"].tolist() == [1.0]
    assert run_rows(journal, "bk", "failed-1", "equity").empty
    assert run_rows(journal, "bk", "good", "equity")["equity"].tolist() == [100.0]


def test_one_writer_a_live_holder_refuses_the_second_a_gone_one_is_taken_over(journal):
    first = opened(journal, "run-1", D1, D1)
    with pytest.raises(BookLocked, match=r"book 'bk' is being written by run run-1 since .* \(pid 1 on test-host\)"):
        opened(journal, "run-2", D1, D1)
    second = opened(journal, "run-2", D1, D1, gone=always_gone)
    assert lock_holder(journal, "bk").run_id == "run-2"
    first.replace("equity", [D1], equity(D1))
    with pytest.raises(BookLocked, match=r"run run-1 no longer holds book 'bk'.*nothing was committed"):
        first.commit("simulated", 100.0)
    first.release()  # releasing a lock another run took over leaves it with that run
    assert lock_holder(journal, "bk").run_id == "run-2"
    second.release()
    assert lock_holder(journal, "bk") is None


def test_a_lock_goes_stale_without_heartbeats():
    now = pd.Timestamp("2026-01-01 12:00", tz="UTC").to_pydatetime()
    holder = LockHolder("bk", "r", 1, "h", now, now - pd.Timedelta(seconds=59))
    assert stale_heartbeat(holder, now) is None
    holder = LockHolder("bk", "r", 1, "h", now, now - pd.Timedelta(seconds=61))
    assert stale_heartbeat(holder, now) == "no heartbeat for 61 s"


def test_a_book_keeps_the_kind_of_its_first_commit(journal):
    paper = BookJournal(journal, RunScope("bk", "live-1"))
    paper.open(pid=1, host="h", gone=never_gone)
    paper.commit("paper", 100.0)
    paper.release()
    assert book_kind(journal, "bk") == "paper"
    backtest = opened(journal, "bt", D1, D1, fresh=True)
    backtest.replace("equity", [D1], equity(D1))
    with pytest.raises(BookKindError, match="book 'bk' is a paper book: a simulated run may not write it"):
        backtest.commit("simulated", 100.0)
    assert committed(journal).empty


def test_staged_order_statuses_apply_when_the_run_commits(journal):
    first = opened(journal, "run-1", D1, D1)
    first.replace("orders", [D1], order("o-1", D1))
    first.commit("simulated", 100.0)
    first.release()
    second = opened(journal, "run-2", D2, D2)
    second.update_order_status({"o-1": "filled"})
    assert second.read("orders")["status"].tolist() == ["filled"]  # the run sees its update
    assert committed(journal, "orders")["status"].tolist() == ["submitted"]
    with pytest.raises(ValueError, match="1 of 1 order ids are not orders of book 'bk'"):
        second.update_order_status({"nope": "filled"})
    second.commit("simulated", 100.0)
    assert committed(journal, "orders")["status"].tolist() == ["filled"]


def test_a_transaction_writes_everything_or_nothing(journal):
    direct = BookJournal(journal, RunScope("bk", "run-1"))
    direct.open(pid=1, host="h", gone=never_gone)
    with pytest.raises(ValueError, match="equity: column 'equity' has 1 NaN"), direct.transaction("journal a session"):
        direct.replace("orders", [D1], order("o-1", D1))
        direct.replace("equity", [D1], equity(D1).assign(equity=float("nan")))
    assert committed(journal, "orders").empty and committed(journal).empty


def test_a_book_name_may_not_hold_the_staging_separator():
    with pytest.raises(ValueError, match="without '#'"):
        RunScope("bk#1", "run")


def test_an_accounts_other_books_are_read_as_committed(journal):
    """What another book's run has not committed is not the book's yet: an account counts none of it."""
    first = opened(journal, "run-1", D1, D2)
    first.replace("equity", [D1, D2], equity(D1, D2, value=100.0))
    assert committed_books(journal) == [] and committed_equity(journal, ["bk"], D3).empty
    first.commit("simulated", 100.0)
    first.release()
    second = opened(journal, "run-2", D3, D3)
    second.replace("equity", [D3], equity(D3, value=300.0))  # staged, never committed
    assert committed_books(journal) == ["bk"]
    rows = committed_equity(journal, ["bk", "other"], D3)
    assert rows["session"].tolist() == [pd.Timestamp(D1), pd.Timestamp(D2)] and set(rows["equity"]) == {100.0}
    assert committed_equity(journal, ["bk"], D1)["session"].tolist() == [pd.Timestamp(D1)]  # up to the end given
