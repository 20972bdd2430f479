"""Bulk writes and reads of the journal: COPY on PostgreSQL, multi-row INSERTs on SQLite, the same contents and
the same refusals on both."""

from collections.abc import Iterator
from datetime import date

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.journal import Journal
from trading_pipeline.journal import bulk as journal_bulk

D1, D2 = date(2024, 1, 2), date(2024, 1, 3)
# Characters that COPY's text format escapes, and text that looks like its NULL marker.
AWKWARD = "tab\there, newline\nand \\backslash \\N, quotes ' \" café ✓ \r end"


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request, tmp_path) -> Iterator[Journal]:
    """A fresh journal on each backend (the SQLite one runs without a PostgreSQL server)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'journal.db'}"
    else:
        url = request.getfixturevalue("pg_databases")("bulk").url()
    jr = Journal(url)
    jr.create_schema()
    yield jr
    jr.close()


def choices(n: int) -> pd.DataFrame:
    """``n`` choices over two sessions, written neither by session nor by symbol order."""
    return pd.DataFrame(
        {
            "session": [D2, D1] * (n // 2),
            "symbol": [f"S{i:04d}" for i in range(n)][::-1],
            "strategy": "Breakout",
            "provider": "rules",
            "outcome": "rules",
            "reason": [f"{AWKWARD} #{i}" for i in range(n)],
        }
    )


def risk_events(n: int) -> pd.DataFrame:
    """``n`` risk events with missing symbols, values and limits."""
    return pd.DataFrame(
        {
            "session": D1,
            "symbol": [None if i % 3 == 0 else f"S{i}" for i in range(n)],
            "rule": "max_position_pct",
            "action": "clipped",
            "value": [np.nan if i % 4 == 0 else i / 7 for i in range(n)],
            "limit_value": [None if i % 5 == 0 else 0.2 for i in range(n)],
            "message": [AWKWARD if i % 2 else "" for i in range(n)],
        }
    )


def orders(ids: list[str], session: date = D1) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_order_id": ids,
            "session": session,
            "symbol": "AAPL",
            "side": "buy",
            "qty": 1.0,
            "order_type": "market",
            "ref_price": 100.0,
            "strategy": "Breakout",
            "confidence": 0.5,
            "status": "submitted",
            "reason": "",
            "created_at": pd.Timestamp("2024-01-02 09:30:00.123456", tz="America/New_York"),
        }
    )


@pytest.mark.parametrize("chunk", [journal_bulk._INSERT_CHUNK, 40])
def test_bulk_rows_are_read_back_exactly_in_write_order(journal, monkeypatch, chunk):
    """Several statements (or COPY batches) and a remainder: every value, missing one and awkward text comes
    back as written, in write order within each session."""
    monkeypatch.setattr(journal_bulk, "_INSERT_CHUNK", chunk)
    written = choices(1_002)
    assert journal.replace_strategy_choices("bk", [D1, D2], written, "run-1") == 1_002
    read = journal.read("strategy_choices", book="bk")
    expected = pd.concat([written[written["session"] == day] for day in (D1, D2)])
    assert read["symbol"].tolist() == expected["symbol"].tolist()
    assert read["reason"].tolist() == expected["reason"].tolist()
    assert read["session"].tolist() == [pd.Timestamp(day) for day in expected["session"]]
    assert set(read["run_id"]) == {"run-1"} and set(read["book"]) == {"bk"}
    counts = journal.strategy_choice_counts("bk")
    assert counts[["session", "rows"]].values.tolist() == [[pd.Timestamp(D1), 501], [pd.Timestamp(D2), 501]]

    events = risk_events(301)
    assert journal.record_risk_events("bk", [D1], "sizing", events, "run-1") == 301
    stored = journal.read("risk_events", book="bk")
    assert stored["symbol"].isna().tolist() == events["symbol"].isna().tolist()
    np.testing.assert_array_equal(stored["value"].to_numpy(), events["value"].to_numpy())
    np.testing.assert_array_equal(stored["limit_value"].to_numpy(), events["limit_value"].astype("float64").to_numpy())
    assert stored["message"].tolist() == events["message"].tolist()


def test_postgresql_and_sqlite_store_and_read_the_same(tmp_path, pg_databases):
    frames = {}
    for url in (f"sqlite:///{tmp_path / 'journal.db'}", pg_databases("bulk_same").url()):
        jr = Journal(url)
        jr.create_schema()
        jr.replace_strategy_choices("bk", [D1, D2], choices(300), "run-1")
        jr.record_risk_events("bk", [D1], "sizing", risk_events(100), "run-1")
        jr.replace_orders("bk", [D1], orders([f"o-{i}" for i in range(100)]), "run-1")
        frames[url] = [jr.read(name, book="bk") for name in ("strategy_choices", "risk_events", "orders")]
        frames[url].append(jr.strategy_choice_counts("bk"))
        jr.close()
    on_sqlite, on_postgres = frames.values()
    for sqlite_frame, postgres_frame in zip(on_sqlite, on_postgres, strict=True):
        pd.testing.assert_frame_equal(postgres_frame, sqlite_frame, check_exact=True)
    assert on_postgres[2]["created_at"].iloc[0] == pd.Timestamp("2024-01-02 14:30:00.123456", tz="UTC")


def test_a_conflict_in_the_last_rows_rolls_back_the_whole_replace(journal):
    """A unique-key clash raised by the database after most rows went in (the end of a COPY, a late INSERT
    statement) is bad input: the same ValueError, and the book keeps its earlier rows."""
    journal.replace_orders("bk", [D2], orders(["o-299"], session=D2), "run-1")  # an id is unique within its book
    journal.replace_orders("bk", [D1], orders(["kept"]), "run-1")
    with pytest.raises(ValueError, match="conflict with rows already in the journal"):
        journal.replace_orders("bk", [D1], orders([f"o-{i}" for i in range(300)]), "run-2")
    assert journal.read("orders", book="bk")["client_order_id"].tolist() == ["kept", "o-299"]
    journal.replace_orders("other", [D1], orders([f"o-{i}" for i in range(300)]), "run-2")  # another book may


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.assign(reason=f["reason"].astype(object).where(f.index != 777, 3)),
         "column 'reason' must hold strings, found int 3"),
        (lambda f: f.assign(outcome=np.where(f.index == 5, "guess", "rules")), r"column 'outcome' holds \['guess'\]"),
        (lambda f: f.assign(symbol=np.where(f.index == 997, "S0000", f["symbol"])),
         r"\('session', 'symbol'\) must be unique, repeated: \[\(datetime.date\(2024, 1, 2\), 'S0000'\)\]"),
    ],
)  # fmt: skip
def test_a_bad_bulk_frame_is_refused_and_writes_nothing(journal, mutate, message):
    journal.replace_strategy_choices("bk", [D1, D2], choices(4), "run-1")
    with pytest.raises(ValueError, match=message):
        journal.replace_strategy_choices("bk", [D1, D2], mutate(choices(1_000)), "run-2")
    stored = journal.read("strategy_choices", book="bk")
    assert len(stored) == 4 and set(stored["run_id"]) == {"run-1"}
