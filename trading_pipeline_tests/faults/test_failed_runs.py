"""A run that fails, before or inside Dagster, leaves the book's previous results as they were; a trading book is
never replaced by a backtest."""

import pytest

from trading_pipeline.journal.books import BookJournal, RunScope
from trading_pipeline_tests.faults.cli import Cli, assert_same_book

GOOD = ["backtest", "--start", "2012-01-03", "--end", "2012-03-30", "--json"]


@pytest.fixture
def cli(tmp_path) -> Cli:
    made = Cli(tmp_path / "home")
    done = made.run(*GOOD)
    assert done.returncode == 0, done.stderr
    return made


def test_a_backtest_refused_before_it_runs_changes_nothing(cli, tmp_path):
    before = cli.book("backtest")
    empty = tmp_path / "empty.csv"
    empty.write_text("symbol,date,open,high,low,close,volume\n")
    refused = cli.run(*GOOD, "--data", str(empty))
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"trading-pipeline: --data: {empty}: no data rows"
    assert_same_book(cli.book("backtest"), before)


def test_a_backtest_failing_inside_its_run_changes_nothing(cli, tmp_path):
    before = cli.book("backtest")
    (tmp_path / "failing_strategy.py").write_text(
        "from trading_pipeline.domain.strategies import strategy\n\n"
        "@strategy(name='Failing', min_history=1)\n"
        "def failing(panel):\n"
        "    raise RuntimeError('this strategy fails at run time')\n"
    )
    failed = cli.run(*GOOD, "--plugin", "failing_strategy:failing", "--strategy", "Failing", cwd=tmp_path)
    assert failed.returncode == 1 and "failed: signals" in failed.stderr and "fails at run time" in failed.stderr
    assert_same_book(cli.book("backtest"), before)
    assert len(cli.journal().read_backtests("backtest")) == 1


def test_a_trading_book_is_never_replaced_by_a_backtest(cli):
    journal = cli.journal()
    paper = BookJournal(journal, RunScope("paper", "alpaca-cycle-1"))
    paper.open(pid=1, host="h", gone=lambda holder: None)
    paper.commit("paper", 100_000.0)
    paper.release()
    refused = cli.run(*GOOD, "--book", "paper")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "trading-pipeline: --book 'paper' is a paper trading book: a backtest never replaces it; choose another --book"
    )
    assert cli.journal().read_backtests("paper").empty


def test_check_journal_passes_a_sound_book_and_names_what_a_hand_edit_broke(cli):
    done = cli.run("check-journal", "--book", "backtest")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every invariant holds" in done.stdout
    with cli.journal().writing("hand-edit a fill") as conn:  # someone "fixes" a price in the database
        conn.exec_driver_sql("UPDATE fills SET price = price * 1.5 WHERE id = (SELECT MIN(id) FROM fills)")
    broken = cli.run("check-journal", "--book", "backtest")
    assert broken.returncode == 1
    assert "fill_outside_bar" in broken.stdout and "violation(s)" in broken.stdout
    refused = cli.run("check-journal", "--book", "never-written")
    assert refused.returncode == 1 and "has never committed a run" in refused.stderr
