"""`trading-pipeline halt` and `resume` run their jobs through Dagster, say what they did, and refuse clearly."""

import pytest
from dagster import DagsterInstance

from trading_pipeline.cli import main
from trading_pipeline.defs.resources.journal import journal_url
from trading_pipeline.domain.book import BookState
from trading_pipeline.journal import Journal
from trading_pipeline.journal.halts import active_halt


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_halt_and_resume_run_their_jobs_and_refuse_twice(dagster_home, capsys):
    code, out, err = cli(capsys, "halt", "--book", "paper", "--operator", "ops", "--reason", "broker outage")
    assert code == 0, err
    assert out.startswith("book paper halted by ops at ") and ": broker outage; 0 entry order(s) cancelled" in out
    journal = Journal(journal_url(dagster_home))
    assert active_halt(journal, "paper").reason == "broker outage"

    code, _, err = cli(capsys, "halt", "--book", "paper", "--operator", "ops", "--reason", "again")
    assert code == 1 and "trading-pipeline: book 'paper' is already halted by ops at " in err and "resume it" in err
    code, _, err = cli(capsys, "backtest", "--start", "2012-01-03", "--end", "2012-01-31", "--book", "paper")
    assert code == 1 and "--book 'paper' is halted by ops" in err  # checked before anything runs

    code, out, err = cli(capsys, "resume", "--book", "paper", "--operator", "cio", "--reason", "broker back")
    assert code == 0, err
    assert out.startswith("book paper resumed by cio: broker back (run ")
    assert active_halt(journal, "paper") is None
    code, _, err = cli(capsys, "resume", "--book", "paper", "--operator", "cio", "--reason", "again")
    assert code == 1 and "trading-pipeline: book 'paper' is not halted: nothing to resume" in err

    with DagsterInstance.get() as instance:  # the runs are on the instance `dagster dev` shows
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == ["halt_trading_job", "resume_trading_job"]
        assert all(r.tags["trading_pipeline/book"] == "paper" for r in runs)


def test_halt_flatten_cancels_the_entries_and_places_a_sell_per_position(dagster_home, capsys):
    code, _, err = cli(capsys, "backtest", "--start", "2012-01-03", "--end", "2012-03-22", "--book", "bt", "--json")
    assert code == 0, err
    saved = Journal(journal_url(dagster_home)).load_book_state("bt", before="2100-01-01")
    state = BookState.from_dict(saved[1])
    entries = sum(o.side == "buy" for o in state.pending)
    assert entries and state.positions
    code, out, err = cli(capsys, "halt", "--book", "bt", "--operator", "ops", "--reason", "kill", "--flatten")
    assert code == 0, err
    assert f"; {entries} entry order(s) cancelled, {len(state.positions)} sell order(s) placed to flatten it" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--book", "paper", "--operator", " ", "--reason", "why"], "halting book 'paper' needs an operator and a"),
        (["--book", "a#b", "--operator", "ops", "--reason", "why"], "--book: a book name must be non-empty"),
    ],
)
def test_a_halt_without_who_or_with_a_bad_book_is_refused_before_it_runs(dagster_home, capsys, argv, message):
    code, _, err = cli(capsys, "halt", *argv)
    assert code == 1 and message in err
    with DagsterInstance.get() as instance:
        assert instance.get_runs() == []
