"""The CLI runs the backtest through Dagster and writes what it promises."""

import json

import pandas as pd
import pytest

from trading_pipeline.cli import main
from trading_pipeline.domain.walk_forward import best_by_sharpe


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_backtest_writes_its_files_and_prints_metrics_as_json(dagster_home, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "backtest",
            "--start",
            "2008-08-01",
            "--end",
            "2008-10-31",
            "--symbols",
            "aapl,IBM,msft",
            "--out",
            str(out),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    metrics = json.loads(captured.out.strip().splitlines()[-1])
    for key in (
        "total_return",
        "cagr",
        "sharpe",
        "sortino",
        "max_drawdown",
        "win_rate",
        "profit_factor",
        "n_orders",
        "n_fills",
        "runtime_s",
    ):
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


def test_unknown_symbol_is_refused_before_any_run(dagster_home, capsys):
    from dagster import DagsterInstance

    code = main(["backtest", "--start", "2008-08-01", "--end", "2008-08-29", "--symbols", "AAPL,NOPE"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["trading-pipeline: --symbols: NOPE not in daily_5stocks.parquet (it has 5 symbols)"]
    assert DagsterInstance.get().get_runs() == []


def test_a_failing_step_is_named_with_the_error_its_code_raised(dagster_home, tmp_path, capsys, monkeypatch):
    (tmp_path / "broken_strategies.py").write_text(
        "from trading_pipeline.domain.strategies import strategy\n\n"
        "@strategy(name='Broken', min_history=1)\n"
        "def broken(panel):\n"
        "    raise ArithmeticError('the user strategy divided by zero')\n"
    )
    monkeypatch.chdir(tmp_path)
    code = main(
        ["backtest", "--start", "2008-08-01", "--end", "2008-08-29", "--plugin", "broken_strategies:broken",
         "--strategy", "Broken"]
    )  # fmt: skip
    assert code == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    # The CLI's own line names the failed step and the error its code raised, not Dagster's wrapper.
    assert last.startswith("trading-pipeline: run ") and "failed: signals" in last and "divided by zero" in last
    assert "Error occurred while executing" not in last


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


def _kept(capsys, *args) -> list[dict]:
    capsys.readouterr()
    assert main(["backtests", "--json", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_backtests_are_kept_tagged_and_compared(dagster_home, capsys):
    common = ["--start", "2008-09-01", "--end", "2008-10-31", "--symbols", "AAPL,IBM,MSFT", "--json"]
    assert main(["backtest", *common, "--name", "regime policy"]) == 0
    assert main(["backtest", *common, "--strategy", "MeanReversion", "--book", "mr"]) == 0
    kept = _kept(capsys)
    assert [k["name"] for k in kept] == ["regime policy", "mr"]  # the first survives the second run
    first, second = kept
    assert first["book"] == "backtest" and second["book"] == "mr"
    assert (first["start"], first["end"]) == ("2008-09-02", "2008-10-31")
    assert second["parameters"]["strategy"] == "MeanReversion" and first["parameters"]["strategy"] is None
    assert second["parameters"]["limits"]["risk_per_trade"] > 0
    assert first["code_version"].startswith("0.")
    assert {"sharpe", "calmar", "turnover", "trades"} <= set(first["metrics"])
    assert first["metrics"] != second["metrics"]
    assert [k["name"] for k in _kept(capsys, "--book", "mr")] == ["mr"]
    from dagster import DagsterInstance

    run = DagsterInstance.get().get_run_by_id(second["run_id"])
    assert run.tags["trading_pipeline/backtest_name"] == "mr"
    assert json.loads(run.tags["trading_pipeline/backtest_parameters"])["strategy"] == "MeanReversion"

    assert main(["backtests"]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| name | book | start | end | total_return")
    assert [row.split(" | ")[0] for row in table[1:]] == ["| regime policy", "| mr"]


def test_walk_forward_picks_on_train_and_reports_out_of_sample(dagster_home, capsys):
    code = main(
        [
            "walk-forward", "--start", "2008-08-01", "--end", "2008-10-31", "--train-months", "1", "--test-months", "1",
            "--param", "strategy=TrendFollowing,MeanReversion", "--param", "risk_per_trade=0.01", "--symbols",
            "AAPL,IBM,MSFT", "--workers", "2",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| ") and not line.startswith("| window")]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("| 1", "2008-08-01..2008-08-31", "2008-09-01..2008-09-30"),
        ("| 2", "2008-09-01..2008-09-30", "2008-10-01..2008-10-31"),
    ]
    assert "Deflated Sharpe Ratio: DSR" in out and "Probability of Backtest Overfitting:" in out
    kept = _kept(capsys)
    for window, row in enumerate(rows, 1):
        train = {k["parameters"]["strategy"]: k for k in kept if k["name"] == f"walk-forward window {window} train"}
        assert sorted(train) == ["MeanReversion", "TrendFollowing"]
        sharpes = [(v, k["metrics"]["sharpe"]) for v, k in train.items() if k["metrics"]["sharpe"] is not None]
        tests = [k for k in kept if k["name"] == f"walk-forward window {window} test"]
        if not sharpes:  # no train point has a Sharpe: nothing is chosen, nothing is tested
            assert row[3] == "n/a" and tests == []
            continue
        best = best_by_sharpe(sharpes)
        assert row[3] == f"strategy={best}, risk_per_trade=0.01"
        (test,) = tests
        assert test["parameters"]["strategy"] == best and test["start"] >= f"2008-{8 + window:02d}-01"
        assert row[6] == (f"{test['metrics']['sharpe']:,.4g}" if test["metrics"]["sharpe"] is not None else "n/a")


def test_sweep_prints_every_point_with_its_overfitting_statistics(dagster_home, capsys):
    grid = ["--grid", "risk_per_trade=0.01,0.02", "--grid", "atr_stop_multiple=1.5,3"]
    assert main(["sweep", *grid, "--start", "2011-03-01", "--end", "2011-12-30", "--name", "g", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    points = summary["points"]
    assert [(p["risk_per_trade"], p["atr_stop_multiple"]) for p in points] == [
        (0.01, 1.5), (0.01, 3.0), (0.02, 1.5), (0.02, 3.0)
    ]  # fmt: skip
    scored = [(i, p["sharpe"]) for i, p in enumerate(points) if p["sharpe"] is not None]
    assert summary["overfitting"]["best"] == best_by_sharpe(scored)
    assert 0 <= summary["overfitting"]["dsr"] <= 1 and 0 <= summary["overfitting"]["pbo"] <= 1
    kept = [k for k in _kept(capsys) if k["run_id"] == summary["run_id"]]
    assert [k["name"] for k in kept] == ["g"] * 4
    assert [k["metrics"]["sharpe"] for k in kept] == [p["sharpe"] for p in points]


def test_walk_forward_refuses_an_unsweepable_parameter(dagster_home, capsys):
    code = main(
        [
            "walk-forward",
            "--start",
            "2008-08-01",
            "--end",
            "2008-10-31",
            "--train-months",
            "1",
            "--test-months",
            "1",
            "--param",
            "book=a,b",
        ]
    )
    assert code == 1
    assert "cannot sweep 'book'" in capsys.readouterr().err


def _journal(home):
    from trading_pipeline.defs.resources.journal import default_journal_url
    from trading_pipeline.journal import Journal

    return Journal(default_journal_url(home))


def test_discovery_and_accepted_moves_are_backtest_options(dagster_home, capsys):
    # AAPL's -52% on 2000-09-29 is real (the bundled sample's one such move): quarantined unless accepted.
    window = ["--start", "2000-09-01", "--end", "2000-11-30", "--symbols", "AAPL,MSFT,IBM", "--json"]
    assert main(["backtest", *window, "--book", "strict"]) == 0, capsys.readouterr().err
    assert main(["backtest", *window, "--book", "accepting", "--accept-move", "AAPL:2000-09-29"]) == 0
    events = _journal(dagster_home).read("risk_events")
    jumps = events[
        (events["source"] == "market_bars") & (events["symbol"] == "AAPL") & (events["action"] == "quarantined")
    ]
    assert set(jumps["book"]) == {"strict"}  # from the move on, every AAPL bar of the strict book
    assert len(jumps) == len(pd.bdate_range("2000-09-29", "2000-11-30")) - 1  # sessions (Thanksgiving off)

    assert main(["backtest", "--start", "2012-01-03", "--end", "2012-04-30", "--book", "discovering", "--discovery",
                 "--json"]) == 0  # fmt: skip
    capsys.readouterr()
    journal = _journal(dagster_home)
    listed = journal.read("watchlist", book="discovering")
    buys = journal.read("orders", book="discovering").query("side == 'buy'")
    assert len(listed) and len(buys)
    on_list = set(zip(listed["session"].astype(str), listed["symbol"], strict=True))
    assert set(zip(buys["session"].astype(str), buys["symbol"], strict=True)) <= on_list
    kept = journal.read_backtests("discovering")
    assert kept["parameters"].iloc[-1]["discovery"] is True
