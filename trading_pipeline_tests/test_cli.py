"""The CLI runs the backtest through Dagster and writes what it promises."""

import json

import pandas as pd
import pytest

from trading_pipeline.cli import main


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_backtest_writes_its_files_and_prints_metrics_as_json(dagster_home, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["backtest", "--start", "2008-08-01", "--end", "2008-10-31", "--symbols", "aapl,IBM,msft",
                 "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    metrics = json.loads(captured.out.strip().splitlines()[-1])
    for key in ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor",
                "n_orders", "n_fills", "runtime_s"):
        assert key in metrics
    assert metrics["n_fills"] > 0
    for name in ("fills.csv", "orders.csv", "equity.csv", "metrics.json", "tearsheet.html"):
        assert (out / name).stat().st_size > 0, name
    fills = pd.read_csv(out / "fills.csv")
    assert set(fills["symbol"]) <= {"AAPL", "IBM", "MSFT"}
    assert len(fills) == metrics["n_fills"]
    # The run is on the shared instance, so `dagster dev` on this DAGSTER_HOME shows it.
    from dagster import DagsterInstance

    runs = DagsterInstance.get().get_runs()
    assert len(runs) == 1 and runs[0].tags["trading_pipeline/kind"] == "backtest"


def test_unknown_symbol_is_a_clear_error(dagster_home, capsys):
    code = main(["backtest", "--start", "2008-08-01", "--end", "2008-08-29", "--symbols", "AAPL,NOPE"])
    assert code == 1
    assert "NOPE" in capsys.readouterr().err


def test_user_file_with_a_missing_column_is_a_clear_error(dagster_home, tmp_path, capsys):
    bad = tmp_path / "bars.csv"
    bad.write_text("Symbol,Date,Open,High,Low,Close\nAAPL,2008-08-01,1,2,0.5,1.5\n")
    code = main(["backtest", "--start", "2008-08-01", "--end", "2008-08-29", "--data", str(bad)])
    err = capsys.readouterr().err
    assert code == 1
    assert "bars.csv" in err and "volume" in err


def test_strategies_prints_one_backtest_per_strategy(dagster_home, capsys):
    from trading_pipeline.domain.strategies import REGISTRY

    code = main(["strategies", "--start", "2012-06-01", "--end", "2012-12-31", "--symbols", "AAPL,IBM,MSFT"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = [line for line in captured.out.splitlines() if line.startswith("| ") and not line.startswith("| strategy")]
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows] == sorted(REGISTRY)
    from dagster import DagsterInstance

    books = {run.tags["trading_pipeline/book"] for run in DagsterInstance.get().get_runs()}
    assert books == {f"strategy:{name}" for name in REGISTRY}
