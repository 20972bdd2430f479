"""The journal replaces a step's rows instead of duplicating them, refuses bad frames whole, and hides passwords."""

from __future__ import annotations

import importlib.util
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import inspect

from trading_pipeline.journal import TABLES, Journal, JournalError, masked_url, to_session_date

D1, D2, D3 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    jr = Journal(f"sqlite:///{tmp_path / 'nested' / 'journal.db'}")
    jr.create_schema()
    yield jr
    jr.close()


def orders(session: date, symbols: list[str], tag: str = "a") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_order_id": [f"{tag}-{session}-{s}" for s in symbols],
            "session": [session] * len(symbols),
            "symbol": symbols,
            "side": "buy",
            "qty": 10.0,
            "order_type": "limit",
            "limit_price": 100.0,
            "stop_price": np.nan,
            "ref_price": 99.5,
            "strategy": "TrendFollowing",
            "confidence": 0.7,
            "status": "submitted",
            "reason": "",
        }
    )


def fills(session: date, symbols: list[str], tag: str = "a") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "fill_id": [f"f-{tag}-{session}-{s}" for s in symbols],
            "client_order_id": [f"{tag}-{session}-{s}" for s in symbols],
            "session": [session] * len(symbols),
            "symbol": symbols,
            "side": "sell",
            "qty": 5.0,
            "price": 101.0,
            "commission": 1.0,
            "slippage": 0.05,
        }
    )


def positions(session: date, symbols: list[str], tag: str = "a") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session": pd.Timestamp(session),
            "symbol": symbols,
            "qty": 3.0,
            "avg_price": 10.0,
            "close": 11.0,
            "market_value": 33.0,
        }
    )


def equity(session: date, symbols: list[str], tag: str = "a") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session": [session.isoformat()],
            "cash": [1000.0],
            "positions_value": [float(len(symbols))],
            "equity": [1000.0 + len(symbols)],
            "peak_equity": [1100.0],
            "drawdown": [-0.05],
        }
    )


WRITERS: dict[str, tuple[str, Callable[..., pd.DataFrame]]] = {
    "orders": ("replace_orders", orders),
    "fills": ("replace_fills", fills),
    "positions": ("replace_positions", positions),
    "equity": ("replace_equity", equity),
}


def risk_events(session: date, rules: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session": session,
            "symbol": ["AAPL"] + [None] * (len(rules) - 1),
            "rule": rules,
            "action": "clipped",
            "value": 0.3,
            "limit_value": [0.2] + [np.nan] * (len(rules) - 1),
            "message": "position above limit",
        }
    )


def test_create_schema_is_idempotent_and_keeps_data(journal: Journal) -> None:
    journal.replace_equity("default", [D1], equity(D1, ["AAPL"]), "run-1")
    journal.create_schema()
    assert set(TABLES) <= set(inspect(journal._engine).get_table_names())
    assert len(journal.read("equity")) == 1


@pytest.mark.parametrize("table", sorted(WRITERS))
def test_replace_leaves_one_copy_and_spares_other_sessions_and_books(journal: Journal, table: str) -> None:
    method, build = WRITERS[table]
    write = getattr(journal, method)
    per_session = 1 if table == "equity" else 2  # equity holds one row per session
    two_sessions = pd.concat([build(D1, ["AAPL", "MSFT"]), build(D2, ["AAPL", "MSFT"])])
    assert write("default", [D1, D2], two_sessions, "run-1") == 2 * per_session
    write("backtest:demo", [D1], build(D1, ["AAPL", "MSFT"], tag="bt"), "run-bt")

    assert write("default", [D1], build(D1, ["AAPL", "MSFT"]), "run-2") == per_session
    assert write("default", [D1], build(D1, ["AAPL", "MSFT"]), "run-3") == per_session

    frame = journal.read(table, book="default")
    first = frame[frame["session"] == pd.Timestamp(D1)]
    assert len(first) == per_session and set(first["run_id"]) == {"run-3"}
    second = frame[frame["session"] == pd.Timestamp(D2)]
    assert len(second) == per_session and set(second["run_id"]) == {"run-1"}
    other = journal.read(table, book="backtest:demo")
    assert len(other) == per_session and set(other["run_id"]) == {"run-bt"}


def test_empty_frame_clears_the_sessions(journal: Journal) -> None:
    journal.replace_orders("default", [D1, D2], pd.concat([orders(D1, ["AAPL"]), orders(D2, ["MSFT"])]), "run-1")
    assert journal.replace_orders("default", [D1], pd.DataFrame(), "run-2") == 0
    assert journal.read("orders")["symbol"].tolist() == ["MSFT"]


def test_row_outside_the_sessions_is_refused_and_nothing_changes(journal: Journal) -> None:
    journal.replace_positions("default", [D1], positions(D1, ["AAPL"]), "run-1")
    bad = pd.concat([positions(D1, ["MSFT"]), positions(D3, ["NVDA"])])
    with pytest.raises(ValueError, match=r"1 row\(s\) fall on sessions \['2024-01-04'\]"):
        journal.replace_positions("default", [D1], bad, "run-2")
    frame = journal.read("positions")
    assert frame[["symbol", "run_id"]].values.tolist() == [["AAPL", "run-1"]]


def test_conflict_with_stored_rows_rolls_back_the_delete(journal: Journal) -> None:
    journal.replace_orders("demo", [D1], orders(D1, ["AAPL"], tag="x"), "run-1")
    journal.replace_orders("demo", [D2], orders(D2, ["MSFT"], tag="y"), "run-1")
    clash = orders(D2, ["MSFT"], tag="y").assign(session=D1)  # D2's order id again, filed under D1
    with pytest.raises(ValueError, match="conflict with rows already in the journal"):
        journal.replace_orders("demo", [D1], clash, "run-2")
    assert journal.read("orders", book="demo")["symbol"].tolist() == ["AAPL", "MSFT"]  # D1's delete rolled back


def test_an_order_id_is_unique_within_its_book_only(journal: Journal) -> None:
    """Ids hash the book's name, so two books never share one; a run's staged copy of a book repeats them."""
    journal.replace_orders("default", [D1], orders(D1, ["AAPL"], tag="x"), "run-1")
    journal.replace_orders("default#run-2", [D1], orders(D1, ["AAPL"], tag="x"), "run-2")
    assert len(journal.read("orders", book="default#run-2")) == len(journal.read("orders", book="default")) == 1


def test_added_rows_join_a_sessions_rows_and_a_repeated_id_is_refused(journal: Journal) -> None:
    """Orders placed outside a cycle (a halt's) join the session's orders without replacing them, once."""
    journal.replace_orders("demo", [D1], orders(D1, ["AAPL", "IBM"]), "run-1")
    assert journal.add_rows("orders", "demo", orders(D1, ["MSFT"], tag="halt"), "halt-run") == 1
    added = journal.read("orders", book="demo")
    assert added["symbol"].tolist() == ["AAPL", "IBM", "MSFT"]
    assert added["run_id"].tolist() == ["run-1", "run-1", "halt-run"]  # the cycle's orders keep their run
    with pytest.raises(ValueError, match="conflict with rows already in the journal"):
        journal.add_rows("orders", "demo", orders(D1, ["GOOG", "MSFT"], tag="halt"), "halt-run")
    assert journal.read("orders", book="demo")["symbol"].tolist() == ["AAPL", "IBM", "MSFT"]  # nothing of it


def test_nan_in_a_required_column_is_refused(journal: Journal) -> None:
    frame = positions(D1, ["AAPL", "MSFT", "NVDA"])
    frame.loc[[0, 2], "close"] = np.nan
    with pytest.raises(ValueError, match=r"positions: column 'close' has 2 NaN/missing row\(s\) of 3"):
        journal.replace_positions("default", [D1], frame, "run-1")
    assert journal.read("positions").empty


def test_nullable_columns_round_trip_as_missing(journal: Journal) -> None:
    journal.replace_orders("default", [D1], orders(D1, ["AAPL"]), "run-1")
    journal.record_risk_events("default", [D1], "sizing", risk_events(D1, ["max_weight", "cash"]), "run-1")
    order = journal.read("orders").iloc[0]
    assert order["limit_price"] == 100.0 and np.isnan(order["stop_price"])
    events = journal.read("risk_events")
    assert events["limit_value"].isna().tolist() == [False, True]
    assert events["symbol"].isna().tolist() == [False, True]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["ref_price"]), r"missing required columns \['ref_price'\]"),
        (lambda f: f.assign(weight=0.1), r"columns \['weight'\] are not journal columns"),
        (lambda f: f.assign(side="BUY"), r"column 'side' holds \['BUY'\]"),
        (lambda f: f.assign(qty=-1.0), "column 'qty' must be positive"),
        (lambda f: f.assign(qty=np.inf), "column 'qty' has 1 infinite"),
        (lambda f: f.assign(qty="ten"), "column 'qty' must be numeric"),
        (lambda f: f.assign(symbol=""), "column 'symbol' has empty strings"),
        (lambda f: f.assign(book="other"), r"column 'book' holds \['other'\], not 'default'"),
        (lambda f: pd.concat([f, f]), r"\('client_order_id',\) must be unique"),
        (lambda f: f.assign(session="02/01/2024"), "not a session date"),
    ],
)
def test_bad_frames_are_refused(journal: Journal, mutate: Callable[[pd.DataFrame], pd.DataFrame], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        journal.replace_orders("default", [D1], mutate(orders(D1, ["AAPL"])), "run-1")
    assert journal.read("orders").empty


def test_bad_arguments_are_refused(journal: Journal) -> None:
    with pytest.raises(ValueError, match="sessions must be a list"):
        journal.replace_orders("default", "2024-01-02", orders(D1, ["AAPL"]), "run-1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="book must be a non-empty string"):
        journal.replace_orders("", [D1], orders(D1, ["AAPL"]), "run-1")
    with pytest.raises(TypeError, match="rows must be a pandas DataFrame"):
        journal.replace_orders("default", [D1], [{"symbol": "AAPL"}], "run-1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown journal table 'trades'"):
        journal.read("trades")


def test_created_at_defaults_to_now_and_is_stored_in_utc(journal: Journal) -> None:
    before = pd.Timestamp.now(tz="UTC").floor("s")
    journal.replace_orders("default", [D1], orders(D1, ["AAPL"]), "run-1")
    stamped = orders(D2, ["MSFT"]).assign(created_at=pd.Timestamp("2024-01-03 09:30", tz="America/New_York"))
    journal.replace_orders("default", [D2], stamped, "run-1")
    created = journal.read("orders")["created_at"]
    assert str(created.dtype) == "datetime64[ns, UTC]"
    assert created.iloc[0] >= before
    assert created.iloc[1] == pd.Timestamp("2024-01-03 14:30", tz="UTC")


def test_risk_events_are_replaced_per_source(journal: Journal) -> None:
    journal.record_risk_events("default", [D1], "sizing", risk_events(D1, ["max_weight", "cash"]), "run-1")
    journal.record_risk_events("default", [D1], "check:position_limit", risk_events(D1, ["limit"]), "run-1")
    assert journal.record_risk_events("default", [D1], "sizing", risk_events(D1, ["max_weight"]), "run-2") == 1
    events = journal.read("risk_events")
    assert sorted(zip(events["source"], events["rule"], events["run_id"], strict=True)) == [
        ("check:position_limit", "limit", "run-1"),
        ("sizing", "max_weight", "run-2"),
    ]
    with pytest.raises(ValueError, match=r"column 'source' holds \['other'\]"):
        journal.record_risk_events("default", [D1], "sizing", risk_events(D1, ["x"]).assign(source="other"), "r")


def test_book_states_load_the_latest_strictly_before(journal: Journal) -> None:
    assert journal.load_book_state("default", D3) is None
    journal.save_book_states("default", {D1: {"cash": 1.0}, "2024-01-03": {"cash": 2.0}}, "run-1")
    journal.save_book_states("default", {D3: {"cash": 3.0}}, "run-1")
    journal.save_book_states("other", {D1: {"cash": 9.0}}, "run-1")
    journal.save_book_states("default", {pd.Timestamp(D2): {"cash": 2.5, "positions": {"AAPL": 3}}}, "run-2")

    assert journal.load_book_state("default", D3) == (D2, {"cash": 2.5, "positions": {"AAPL": 3}})
    assert journal.load_book_state("default", "2024-01-05") == (D3, {"cash": 3.0})
    assert journal.load_book_state("default", datetime(2024, 1, 2, 16, 0)) is None
    assert len(journal.read("book_states", book="default")) == 3
    with pytest.raises(ValueError, match="not JSON-serializable"):
        journal.save_book_states("default", {D1: {"when": D1}}, "run-3")
    with pytest.raises(ValueError, match="not JSON-serializable"):
        journal.save_book_states("default", {D1: {"cash": float("nan")}}, "run-3")
    assert journal.load_book_state("default", D2) == (D1, {"cash": 1.0})


def test_read_filters_by_book_and_inclusive_session_range(journal: Journal) -> None:
    for book in ("default", "backtest:demo"):
        for day in (D1, D2, D3):
            journal.replace_equity(book, [day], equity(day, ["AAPL"]), f"run-{day}")
    frame = journal.read("equity", book="default", start="2024-01-03", end=pd.Timestamp(D3))
    assert frame["session"].dtype == np.dtype("datetime64[ns]")
    assert frame["session"].tolist() == [pd.Timestamp(D2), pd.Timestamp(D3)]
    assert set(frame["book"]) == {"default"}
    assert len(journal.read("equity", end=D1)) == 2
    assert journal.read("equity", book="nobody").empty


def test_delete_book_and_books(journal: Journal) -> None:
    journal.replace_orders("default", [D1], orders(D1, ["AAPL"]), "run-1")
    journal.save_book_states("backtest:demo", {D1: {}}, "run-1")
    journal.replace_equity("backtest:demo", [D1], equity(D1, []), "run-1")
    assert journal.books() == ["backtest:demo", "default"]
    assert journal.delete_book("backtest:demo") == 2
    assert journal.books() == ["default"]


def test_session_dates_are_converted_robustly() -> None:
    expected = date(2024, 1, 2)
    variants = (
        expected,
        datetime(2024, 1, 2, 15),
        pd.Timestamp("2024-01-02"),
        np.datetime64("2024-01-02"),
        "2024-01-02",
    )
    for value in variants:
        assert to_session_date(value) == expected
    for bad in ("2024-13-01", "2024/01/02", "", None, pd.NaT, 20240102):
        with pytest.raises(ValueError, match="session date"):
            to_session_date(bad)  # type: ignore[arg-type]


def test_unwritable_sqlite_location_raises_journal_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(JournalError, match="cannot create the database directory") as caught:
        Journal(f"sqlite:///{blocker / 'journal.db'}")
    assert str(blocker) in str(caught.value) and caught.value.__cause__ is not None

    directory = tmp_path / "a_directory"
    directory.mkdir()
    jr = Journal(f"sqlite:///{directory}")
    with pytest.raises(JournalError, match="cannot create the schema") as caught:
        jr.create_schema()
    assert caught.value.__cause__ is not None


def test_passwords_never_appear_in_errors() -> None:
    url = "postgresql+psycopg://user:s3cret@127.0.0.1:1/x"
    assert masked_url(url) == "postgresql+psycopg://user:***@127.0.0.1:1/x"
    with pytest.raises(JournalError) as caught:
        jr = Journal(url)  # without psycopg the engine cannot be created; with it, port 1 refuses the connection
        jr.create_schema()
    message = str(caught.value)
    assert "s3cret" not in message and "user:***@127.0.0.1:1/x" in message
    operation = "create the schema" if importlib.util.find_spec("psycopg") else "create the engine"
    assert f"cannot {operation}" in message

    with pytest.raises(ValueError) as caught_url:
        Journal("postgresql+psycopg://user:s3cret@host:notaport/x")
    assert "s3cret" not in str(caught_url.value) and caught_url.value.__cause__ is None


def test_bulk_insert_of_50k_positions(journal: Journal) -> None:
    sessions = pd.bdate_range("2024-01-01", periods=50)
    rows = pd.DataFrame(
        {
            "session": np.repeat(sessions, 1000),
            "symbol": [f"SYM{i:04d}" for i in range(1000)] * 50,
            "qty": np.arange(50_000, dtype="float64") + 1,
            "avg_price": 10.0,
            "close": 11.0,
            "market_value": 110.0,
        }
    )
    started = time.perf_counter()
    assert journal.replace_positions("backtest:bulk", sessions, rows, "run-bulk") == 50_000
    first = time.perf_counter() - started
    started = time.perf_counter()
    journal.replace_positions("backtest:bulk", sessions, rows, "run-bulk-2")
    again = time.perf_counter() - started
    print(f"\n50,000 positions: first write {first:.3f}s, replace {again:.3f}s")
    stored = journal.read("positions", book="backtest:bulk")
    assert len(stored) == 50_000 and set(stored["run_id"]) == {"run-bulk-2"}
    assert stored["qty"].sum() == rows["qty"].sum()


def test_update_order_status_sets_earlier_orders_and_refuses_unknown_ids(tmp_path):
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    journal.create_schema()
    orders = pd.DataFrame(
        {
            "client_order_id": ["tp-1", "tp-2"],
            "session": [date(2012, 1, 3)] * 2,
            "symbol": ["AAPL", "IBM"],
            "side": "buy",
            "qty": [10.0, 5.0],
            "order_type": "market",
            "ref_price": [100.0, 50.0],
            "strategy": "MeanReversion",
            "confidence": 0.5,
            "status": "submitted",
            "reason": "",
        }
    )
    journal.replace_orders("b", [date(2012, 1, 3)], orders, "run-1")

    assert journal.update_order_status("b", {"tp-1": "filled", "tp-2": "cancelled"}) == 2
    assert journal.read("orders", book="b").set_index("client_order_id")["status"].to_dict() == {
        "tp-1": "filled",
        "tp-2": "cancelled",
    }
    with pytest.raises(ValueError, match="not orders of book 'b'"):
        journal.update_order_status("b", {"tp-1": "submitted", "tp-9": "filled"})
    with pytest.raises(ValueError, match="not orders of book 'other'"):
        journal.update_order_status("other", {"tp-1": "submitted"})
    assert journal.read("orders", book="b").set_index("client_order_id")["status"]["tp-1"] == "filled"
    with pytest.raises(ValueError, match="unknown status"):
        journal.update_order_status("b", {"tp-1": "done"})


def test_a_postgresql_server_that_does_not_answer_fails_within_the_connect_timeout() -> None:
    """A server that accepts the connection and never answers: the journal gives up, with a message, in time."""
    import socket
    import time

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        journal = Journal(
            f"postgresql://user:secret-pw@127.0.0.1:{silent.getsockname()[1]}/trading", connect_timeout_s=1
        )
        began = time.monotonic()
        with pytest.raises(JournalError, match=r"timeout expired.*did not answer in time") as raised:
            journal.create_schema()
    assert time.monotonic() - began < 10
    assert "secret-pw" not in str(raised.value)


def test_a_new_sqlite_journal_has_large_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:  # a journal file made before: 4 KB pages, already in WAL
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE earlier (x)")
    for path, pages in ((tmp_path / "new.db", 32768), (old, 4096)):
        journal = Journal(f"sqlite:///{path}")
        journal.create_schema()
        method, build = WRITERS["fills"]
        assert getattr(journal, method)("b", [D1], build(D1, ["AAPL", "MSFT"]), "run-1") == 2
        assert len(journal.read("fills", book="b")) == 2
        journal.close()
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA page_size").fetchone()[0] == pages
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
