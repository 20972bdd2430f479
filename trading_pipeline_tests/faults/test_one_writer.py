"""One book, two writers: the second waits its turn or is refused naming the first; results are never mixed."""

import os
import socket
from pathlib import Path

import pytest

from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import default_journal_url
from trading_pipeline.journal import Journal
from trading_pipeline.journal.books import acquire_lock, run_rows
from trading_pipeline_tests.cycles import run_cycle
from trading_pipeline_tests.faults.cli import Cli

RANGE = ["--start", "2012-01-03", "--end", "2012-03-30", "--json"]


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path / "home")


def metrics_of(out: str) -> dict:
    import json

    return json.loads(out.strip().splitlines()[-1])


def test_a_second_backtest_of_a_book_being_written_is_refused_and_the_first_keeps_its_own_results(cli, tmp_path):
    first = cli.start_paused("sizing", "backtest", *RANGE, "--strategy", "MeanReversion")
    second = cli.run("backtest", *RANGE, "--strategy", "Breakout")
    assert second.returncode == 1
    assert "trading-pipeline: book 'backtest' is being written by run " in second.stderr
    assert f"(pid {first.process.pid} on {socket.gethostname()})" in second.stderr
    code, out, err = first.go_on()
    assert code == 0, err

    # What it kept is its own: the same figures as MeanReversion alone on a home of its own.
    alone = Cli(tmp_path / "alone").run("backtest", *RANGE, "--strategy", "MeanReversion")
    assert alone.returncode == 0, alone.stderr
    kept = cli.journal().read_backtests("backtest")
    assert len(kept) == 1 and kept["parameters"][0]["strategy"] == "MeanReversion"
    expected = {k: v for k, v in metrics_of(alone.stdout).items() if k != "runtime_s"}
    assert kept["metrics"][0] == expected
    assert {k: v for k, v in metrics_of(out).items() if k != "runtime_s"} == expected


def test_a_run_that_meets_a_live_writer_inside_fails_naming_it_and_changes_nothing(instance):
    """Both past the CLI's check: the one that comes second is refused by the journal's lock, in its first step."""
    journal = Journal(default_journal_url(Path(instance.root_directory)))
    journal.create_schema()
    acquire_lock(journal, "busy", "other-run", os.getpid(), socket.gethostname(), gone=lambda holder: None)
    run = run_cycle(instance, "2012-01-03", "2012-01-31", trading=TradingBook(book="busy"))
    assert not run.result.success
    (failure,) = [e for e in run.result.all_events if e.is_step_failure]
    assert failure.step_key == "market_bars"
    assert "book 'busy' is being written by run other-run since" in failure.step_failure_data.error.cause.message
    assert run.table("orders").empty and run_rows(journal, "busy", run.result.run_id, "risk_events").empty
