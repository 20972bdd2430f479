"""The journal keeps every backtest's identity and results across runs of the same book."""

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from trading_pipeline.journal import Journal


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    jr = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    jr.create_schema()
    yield jr
    jr.close()


def _record(journal: Journal, run_id: str, book: str = "bt", sharpe: float | None = 1.0, name: str = "first") -> None:
    journal.record_backtest(
        run_id=run_id, book=book, name=name, parameters={"strategy": "TrendFollowing", "limits": {"risk_per_trade": 0.01}},
        code_version="0.1.0+abc", start=date(2008, 8, 1), end="2008-10-31", metrics={"sharpe": sharpe, "trades": 3},
    )  # fmt: skip


def test_backtests_are_kept_replaced_per_run_and_survive_delete_book(journal):
    _record(journal, "run-1")
    _record(journal, "run-1", sharpe=2.0)  # the same run's report re-executed: replaced, not duplicated
    _record(journal, "run-2", book="other", sharpe=None, name="second")
    journal.delete_book("bt")  # a new backtest of the book clears its journal, not its kept results
    kept = journal.read_backtests()
    assert kept["run_id"].tolist() == ["run-1", "run-2"]
    first = kept.iloc[0]
    assert first["metrics"] == {"sharpe": 2.0, "trades": 3}
    assert first["parameters"]["limits"] == {"risk_per_trade": 0.01}
    assert (first["name"], first["code_version"], first["start"], first["end"]) == (
        "first", "0.1.0+abc", date(2008, 8, 1), date(2008, 10, 31),
    )  # fmt: skip
    assert str(first["created_at"].tz) == "UTC"
    assert kept.iloc[1]["metrics"]["sharpe"] is None
    assert journal.read_backtests("other")["name"].tolist() == ["second"]
    assert journal.read_backtests("none").empty


def test_a_backtest_needs_a_name_and_finite_metrics(journal):
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        _record(journal, "run-1", name=" ")
    with pytest.raises(ValueError, match="Out of range float"):
        _record(journal, "run-1", sharpe=float("nan"))
    assert journal.read_backtests().empty


def test_a_sweep_keeps_one_row_per_point_of_its_run(journal):
    for point, sharpe in enumerate((0.5, 1.5, None)):
        journal.record_backtest(
            run_id="sweep-1", point=point, book="sweep", name="grid", parameters={"risk_per_trade": 0.01 * (point + 1)},
            code_version="0.1.0", start=date(2008, 8, 1), end=date(2008, 10, 31), metrics={"sharpe": sharpe},
        )  # fmt: skip
    journal.record_backtest(
        run_id="sweep-1",
        point=1,
        book="sweep",
        name="grid",
        parameters={"risk_per_trade": 0.02},
        code_version="0.1.0",
        start=date(2008, 8, 1),
        end=date(2008, 10, 31),
        metrics={"sharpe": 9.0},
    )  # fmt: skip  (the same point re-executed: replaced, the others kept)
    kept = journal.read_backtests("sweep").sort_values("point")
    assert kept["point"].tolist() == [0, 1, 2]
    assert [m["sharpe"] for m in kept["metrics"]] == [0.5, 9.0, None]
    assert set(kept["run_id"]) == {"sweep-1"} and set(kept["name"]) == {"grid"}
