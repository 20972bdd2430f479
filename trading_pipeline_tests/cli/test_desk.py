"""`trading-pipeline status` and `cycle`: the current profile's desk from the shell, offline and on the local Alpaca."""

import json
from datetime import date, time

import pytest

from trading_pipeline.cli import main
from trading_pipeline.defs.resources.journal import journal_url
from trading_pipeline.domain.book import BookState
from trading_pipeline.journal import Journal
from trading_pipeline.sandbox.alpaca_server import SECRET_KEY, AlpacaSandbox
from trading_pipeline_tests.fakes.alpaca_fixtures import fresh_key, sample_bars
from trading_pipeline_tests.faults.paper_desk import at

FIRST, SECOND, THIRD = date(2012, 8, 16), date(2012, 8, 17), date(2012, 8, 20)


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name in ("TRADING_PROFILE", "ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_BASE_URL", "TRADING_SYMBOLS"):
        monkeypatch.delenv(name, raising=False)
    return home


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _book(home, book: str) -> BookState:
    saved = Journal(journal_url(home)).load_book_state(book, before="9999-12-31")
    assert saved is not None
    return BookState.from_dict(saved[1])


def test_offline_status_and_one_cycle_without_reset(dagster_home, capsys):
    code, out, err = cli(capsys, "status")
    assert code == 0, err
    assert out.splitlines()[0] == "profile: offline (book offline)"
    assert "broker: simulator" in out and "book offline: nothing journaled yet" in out and "last cycle: none" in out

    code, _, err = cli(capsys, "cycle")
    assert code == 1 and "give the session with --session" in err
    code, _, err = cli(capsys, "cycle", "--session", "2012-08-18")
    assert code == 1 and "2012-08-18 is not an NYSE session" in err

    for day in (FIRST, SECOND):
        code, out, err = cli(capsys, "cycle", "--session", day.isoformat())
        assert code == 0, err
        assert out.startswith(f"{day} (cli): run ") and " succeeded; " in out
    state = _book(dagster_home, "offline")
    assert state.last_session == SECOND  # the second cycle continued the first's book: no reset
    code, out, err = cli(capsys, "status", "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["journal"]["last_session"] == str(SECOND)
    assert status["journal"]["pending_orders"] == len(state.pending)
    assert f"session {SECOND}: SUCCESS" in status["last_cycle"] and status["last_cycle"].endswith("(cli)")


@pytest.fixture
def paper(dagster_home, monkeypatch):
    bars = sample_bars(["AAPL", "GOOG", "IBM", "MSFT"], "2011-01-01", "2012-12-31")
    key = fresh_key()
    with AlpacaSandbox(bars=bars, now=at(FIRST, time(16, 30))) as server:
        env = {"TRADING_PROFILE": "paper", "ALPACA_API_KEY": key, "ALPACA_SECRET_KEY": SECRET_KEY,
               "ALPACA_BASE_URL": server.url}  # fmt: skip
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield server


def test_paper_status_names_keys_never_their_values_and_shows_the_broker(paper, capsys):
    code, out, err = cli(capsys, "status")
    assert code == 0, err
    assert "profile: paper (book paper)" in out
    assert "ALPACA_API_KEY set, ALPACA_SECRET_KEY set, GROQ_API_KEY not set" in out
    assert SECRET_KEY not in out and SECRET_KEY not in err
    assert "account ACTIVE: cash 100,000.00" in out
    assert f"latest closed session {FIRST}" in out and "market closed" in out
    assert "positions: none" in out and "open orders: 0" in out


def test_paper_cycle_trades_the_latest_closed_session_then_catches_up_what_was_missed(paper, dagster_home, capsys):
    code, out, err = cli(capsys, "cycle")  # the broker's latest closed session
    assert code == 0, err
    assert out.startswith(f"{FIRST} (cli): run "), out
    first = _book(dagster_home, "paper")
    assert first.last_session == FIRST
    assert {o.client_order_id for o in first.pending} == set(paper.by_client_id)  # what left is what is pending

    paper.advance_to(at(THIRD, time(16, 30)))  # nobody ran the 17th
    code, out, err = cli(capsys, "cycle")
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(": run ")[0] for line in lines] == [f"{SECOND} (catch_up)", f"{THIRD} (cli)"]
    third = _book(dagster_home, "paper")
    assert third.last_session == THIRD
    assert {s: p.qty for s, p in third.positions.items()} == {
        s: p.qty for s, p in paper.account.positions.items()
    }  # the journal books what the broker holds

    code, out, err = cli(capsys, "status", "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["broker"]["positions"] == {s: p.qty for s, p in paper.account.positions.items()}
    assert sorted(status["broker"]["open_orders"]) == sorted(
        o.client_order_id for o in paper.orders.values() if o.is_open
    )
    assert f"session {THIRD}: SUCCESS" in status["last_cycle"]
