"""`trading-pipeline`: run a backtest through Dagster from the shell.

A backtest is the `daily_cycle` job launched as ONE run over a range of session partitions (exactly what
a single-run backfill launches from the UI), on the Dagster instance of DAGSTER_HOME, so the run, its
checks and its materializations show in `dagster dev` when both share that home.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, JobDefinition, execute_job, reconstructable

from trading_pipeline.dagster_internals.events import step_error_text
from trading_pipeline.domain import calendar
from trading_pipeline.instance import RUN_ENVIRONMENT, write_instance_config
from trading_pipeline.journal import Journal, JournalError

DEMO_START, DEMO_END = "2011-03-01", "2013-02-28"
STRATEGY_COLUMNS = ("total_return", "sharpe", "max_drawdown", "n_round_trips", "exposure")
COMPARE_COLUMNS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "win_rate",
    "trades",
    "turnover",
)
SUMMARY_KEYS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "trades",
    "turnover",
    "n_orders",
    "n_fills",
)


class BacktestError(RuntimeError):
    """The backtest could not run or did not succeed; the message says which step and why."""


@dataclass(frozen=True)
class BacktestResult:
    run_id: str
    out_dir: Path
    metrics: dict


def daily_cycle_job() -> JobDefinition:
    """The daily cycle from the project's Definitions, reconstructable for ``execute_job``."""
    from trading_pipeline.definitions import defs

    return defs.resolve_job_def("daily_cycle")


def run_backtest(
    start: str,
    end: str,
    *,
    symbols: list[str] | None = None,
    data: str | None = None,
    out: str | None = None,
    book: str = "backtest",
    strategy: str | None = None,
    plugins: list[str] | None = None,
    tearsheet: bool = True,
    instance: DagsterInstance | None = None,
    log_level: str = "INFO",
    name: str | None = None,
    limits: dict[str, float | int] | None = None,
) -> BacktestResult:
    """Backtest [start, end] on a fresh book; raises BacktestError when the run fails or a check blocks it.

    ``name`` (default: the book) and the parameters (strategy pin, symbols, data, ``limits``: TradingBook
    overrides) tag the run, and performance_report keeps them with the results in the journal's backtests."""
    from trading_pipeline.defs.resources.journal import journal_url
    from trading_pipeline.defs.tags import BACKTEST_NAME_TAG, BACKTEST_PARAMETERS_TAG

    sessions = calendar.sessions(start, end)
    if len(sessions) == 0:
        raise BacktestError(f"no NYSE session between {start} and {end}")
    instance = instance or DagsterInstance.get()
    out_dir = Path(out or Path(instance.root_directory) / "trading_pipeline" / "reports" / book).resolve()
    # A backtest starts from fresh capital: forget what an earlier run of this book journaled.
    journal = Journal(journal_url(Path(instance.root_directory)))
    journal.create_schema()
    journal.delete_book(book)

    first, last = sessions[0].strftime("%Y-%m-%d"), sessions[-1].strftime("%Y-%m-%d")
    # execute_job, not execute_in_process: the latter keeps every step's output in memory until the run
    # ends (~0.8 GB of DataFrames on 500 symbols x 5 years); the job still runs in this process.
    with execute_job(
        reconstructable(daily_cycle_job),
        instance=instance,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
            "trading_pipeline/book": book,
            "trading_pipeline/kind": "backtest",
            BACKTEST_NAME_TAG: name or book,
            BACKTEST_PARAMETERS_TAG: json.dumps(
                {"strategy": strategy, "symbols": symbols, "data": data, "plugins": plugins, **(limits or {})},
                sort_keys=True,
            ),
        },
        run_config={
            "resources": {
                "market_data": {"config": {"path": data, "symbols": symbols}},
                "trading": {"config": {"book": book, **(limits or {})}},
                "selector": {"config": {"pin": strategy}},
                "strategies": {"config": {"plugins": plugins or []}},
            },
            "ops": {"performance_report": {"config": {"out_dir": str(out_dir), "tearsheet": tearsheet}}},
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
    ) as result:
        success, run_id = result.success, result.run_id
    if not success:
        # Only the failures: reading back every event of a 5-year run (one per asset and session) takes ~1 s.
        failed = [e.get_dagster_event() for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)]
        why = "; ".join(f"{e.step_key}: {step_error_text(e.step_failure_data.error)}" for e in failed)
        raise BacktestError(f"run {run_id} failed: {why or 'see the run in the Dagster UI'}")
    report_path = out_dir / "metrics.json"
    if not report_path.exists():
        raise BacktestError(
            f"run {run_id} wrote no report: a blocking check stopped it (see its asset checks in the UI)"
        )
    return BacktestResult(run_id=run_id, out_dir=out_dir, metrics=json.loads(report_path.read_text()))


def _prepare_environment() -> None:
    """Without DAGSTER_HOME, use ./.dagster_home so that `dagster dev` started here sees the same runs;
    a new home gets the project's dagster.yaml (batched event log, telemetry off)."""
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(Path.cwd() / ".dagster_home")
    write_instance_config(Path(os.environ["DAGSTER_HOME"]))
    for key, value in RUN_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def _print_summary(result: BacktestResult, runtime_s: float) -> None:
    print(f"\nrun {result.run_id}")
    print(f"{'metric':<16}{'value':>14}")
    for key in SUMMARY_KEYS:
        value = result.metrics.get(key)
        shown = "n/a" if value is None else (f"{value:,.4f}" if isinstance(value, float) else f"{value:,}")
        print(f"{key:<16}{shown:>14}")
    print(f"{'runtime_s':<16}{runtime_s:>14.2f}")
    print(f"\nreport: {result.out_dir}")


def _print_strategy_table(start: str, end: str, symbols: list[str] | None, data: str | None) -> None:
    """One backtest per strategy (the selector pinned to it), through Dagster like any other backtest."""
    from trading_pipeline.domain.strategies import REGISTRY

    print(f"each strategy alone, {start}..{end}\n")
    print(f"| strategy | {' | '.join(STRATEGY_COLUMNS)} |")
    print(f"|---|{'---:|' * len(STRATEGY_COLUMNS)}")
    for name in sorted(REGISTRY):
        metrics = run_backtest(
            start, end, symbols=symbols, data=data, book=f"strategy:{name}", strategy=name,
            tearsheet=False, log_level="WARNING",
        ).metrics  # fmt: skip
        cells = ["n/a" if metrics.get(k) is None else f"{metrics[k]:,.4g}" for k in STRATEGY_COLUMNS]
        print(f"| {name} | {' | '.join(cells)} |", flush=True)


def _print_backtests(book: str | None, as_json: bool) -> int:
    """The journal's kept backtests, oldest first: one row each, the headline metrics side by side."""
    from trading_pipeline.defs.resources.journal import journal_url

    journal = Journal(journal_url(Path(os.environ["DAGSTER_HOME"])))
    journal.create_schema()
    kept = journal.read_backtests(book)
    if as_json:
        for row in kept.to_dict("records"):
            print(json.dumps({**row, "start": str(row["start"]), "end": str(row["end"]),
                              "created_at": row["created_at"].isoformat()}, default=float))  # fmt: skip
        return 0
    if kept.empty:
        print("no backtest kept" + (f" for book {book!r}" if book else ""))
        return 0
    columns = ("name", "book", "start", "end", *COMPARE_COLUMNS, "parameters", "code_version", "run_id")
    print(f"| {' | '.join(columns)} |")
    print(f"|{'---|' * 4}{'---:|' * len(COMPARE_COLUMNS)}---|---|---|")
    for row in kept.to_dict("records"):
        varied = {k: v for k, v in row["parameters"].items() if k != "limits" and v not in (None, [])}
        cells = [row["name"], row["book"], str(row["start"]), str(row["end"])]
        cells += [_cell(row["metrics"].get(k)) for k in COMPARE_COLUMNS]
        cells += [json.dumps(varied, sort_keys=True), row["code_version"], row["run_id"][:8]]
        print(f"| {' | '.join(cells)} |")
    return 0


def _cell(value) -> str:
    return "n/a" if value is None else (f"{value:,.4g}" if isinstance(value, float) else f"{value:,}")


def _walk_forward(args: argparse.Namespace, symbols: list[str] | None) -> None:
    """Backtest every value on each train window, run the best (by Sharpe) on the following test window, and
    print train vs test side by side; every backtest is kept in the journal under a descriptive name."""
    from trading_pipeline.domain.walk_forward import best_by_sharpe, parse_param, windows

    param, values = parse_param(args.param)
    steps = windows(args.start, args.end, args.train_months, args.test_months)

    def backtest(start, end, value, label):
        setting = {"strategy": value} if param == "strategy" else {"limits": {param: value}}
        return run_backtest(
            start.isoformat(), end.isoformat(), symbols=symbols, data=args.data, book=f"walk-forward:{param}={value}",
            name=f"walk-forward {label} {param}={value}", tearsheet=False, log_level="WARNING", **setting,
        ).metrics  # fmt: skip

    print(f"walk-forward over {param} in {values}: {len(steps)} window(s), best train Sharpe goes out of sample\n")
    print("| window | train | best | train sharpe | train return | test | test sharpe | test return | test max_dd |")
    print(f"|---:|---|---|{'---:|' * 2}---|{'---:|' * 3}")
    for i, step in enumerate(steps, 1):
        trained = [(v, backtest(step.train_start, step.train_end, v, f"#{i} train")) for v in values]
        best = best_by_sharpe([(v, m.get("sharpe")) for v, m in trained])
        train = dict(trained)[best]
        test = backtest(step.test_start, step.test_end, best, f"#{i} test")
        cells = [
            str(i), f"{step.train_start}..{step.train_end}", str(best), _cell(train.get("sharpe")),
            _cell(train.get("total_return")), f"{step.test_start}..{step.test_end}", _cell(test.get("sharpe")),
            _cell(test.get("total_return")), _cell(test.get("max_drawdown")),
        ]  # fmt: skip
        print(f"| {' | '.join(cells)} |", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trading-pipeline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help=f"backtest the bundled 5-stock data ({DEMO_START}..{DEMO_END})")
    demo.add_argument("--out", default="out/demo", help="report folder (default: out/demo)")
    bt = commands.add_parser("backtest", help="backtest a date range")
    bt.add_argument("--start", required=True, type=date.fromisoformat)
    bt.add_argument("--end", required=True, type=date.fromisoformat)
    bt.add_argument("--symbols", help="comma-separated tickers (default: every symbol in the data)")
    bt.add_argument("--data", help="CSV or Parquet bars file (default: the bundled sample)")
    bt.add_argument("--out", help="write fills.csv, orders.csv, equity.csv, metrics.json and tearsheet.html here")
    bt.add_argument("--book", default="backtest", help="book name in the journal (replaced on each run)")
    bt.add_argument("--strategy", help="use only this strategy (default: the regime selection policy)")
    bt.add_argument(
        "--plugin", action="append", default=[], metavar="MODULE:ATTR",
        help="register a user strategy (repeatable), e.g. my_strategies:sma_cross",
    )  # fmt: skip
    bt.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")
    bt.add_argument("--name", help="name kept with the results in the journal (default: the book)")
    kept = commands.add_parser("backtests", help="list the kept backtests side by side")
    kept.add_argument("--book", help="only this book's backtests")
    kept.add_argument("--json", action="store_true", help="print them as JSON lines")
    wf = commands.add_parser("walk-forward", help="pick a parameter on train windows, judge it on the next test window")
    wf.add_argument("--start", required=True, type=date.fromisoformat)
    wf.add_argument("--end", required=True, type=date.fromisoformat)
    wf.add_argument("--train-months", required=True, type=int)
    wf.add_argument("--test-months", required=True, type=int)
    wf.add_argument(
        "--param", required=True, metavar="NAME=V1,V2", help="e.g. strategy=trend,breakout or risk_per_trade=0.005,0.01"
    )
    wf.add_argument("--symbols", help="comma-separated tickers (default: every symbol in the data)")
    wf.add_argument("--data", help="CSV or Parquet bars file (default: the bundled sample)")
    per_strategy = commands.add_parser("strategies", help="backtest each strategy alone and print a table")
    per_strategy.add_argument("--start", type=date.fromisoformat, default=date.fromisoformat(DEMO_START))
    per_strategy.add_argument("--end", type=date.fromisoformat, default=date.fromisoformat(DEMO_END))
    per_strategy.add_argument("--symbols", help="comma-separated tickers (default: every symbol in the data)")
    per_strategy.add_argument("--data", help="CSV or Parquet bars file (default: the bundled sample)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    symbols = [s.strip().upper() for s in args.symbols.split(",")] if getattr(args, "symbols", None) else None

    _prepare_environment()
    if getattr(args, "plugin", None):
        # A console script does not see the current folder; user strategy modules usually live there.
        sys.path.insert(0, str(Path.cwd()))
    # Python's collector walks every tracked object at each full collection and once more at exit: with
    # Dagster and the data libraries loaded that was ~10% of a 5-year backtest. What exists now lives until
    # exit, so it is moved out of the collector's way (again before returning, for the exit's pass).
    gc.freeze()
    began = time.perf_counter()
    try:
        if args.command == "backtests":
            return _print_backtests(args.book, args.json)
        if args.command == "walk-forward":
            _walk_forward(args, symbols)
            return 0
        if args.command == "strategies":
            _print_strategy_table(args.start.isoformat(), args.end.isoformat(), symbols, args.data)
            return 0
        if args.command == "demo":
            result = run_backtest(DEMO_START, DEMO_END, out=args.out, book="demo")
        else:
            result = run_backtest(
                args.start.isoformat(),
                args.end.isoformat(),
                symbols=symbols,
                data=args.data,
                out=args.out,
                book=args.book,
                strategy=args.strategy,
                plugins=args.plugin,
                tearsheet=args.out is not None,
                log_level="WARNING" if args.json else "INFO",
                name=args.name,
            )
    except (BacktestError, JournalError, ValueError) as exc:
        print(f"trading-pipeline: {exc}", file=sys.stderr)
        return 1
    runtime_s = time.perf_counter() - began
    if getattr(args, "json", False):
        print(json.dumps({**result.metrics, "runtime_s": round(runtime_s, 3)}, default=float))
    else:
        _print_summary(result, runtime_s)
    gc.freeze()
    return 0


if __name__ == "__main__":
    sys.exit(main())
