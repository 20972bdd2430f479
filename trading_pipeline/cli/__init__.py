"""`trading-pipeline`: backtests, kept results, research and the kill switch through Dagster, from the shell.

A backtest is the `daily_cycle` job launched as ONE run over a range of session partitions (exactly what
a single-run backfill launches from the UI), on the Dagster instance of DAGSTER_HOME, so the run, its
checks and its materializations show in `dagster dev` when both share that home. Errors are one line each;
``--debug`` shows where they came from.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import traceback
from datetime import date
from pathlib import Path

from dagster import DagsterInstance

from trading_pipeline.cli.backtest import Backtest, BacktestError, run_backtest
from trading_pipeline.cli.desk import desk_status, print_status, run_cycle
from trading_pipeline.cli.halts import SwitchError, run_halt, run_resume
from trading_pipeline.cli.journal_check import print_journal_check
from trading_pipeline.cli.reports import print_backtests, print_strategy_table, print_summary
from trading_pipeline.cli.sweep import print_sweep, print_walk_forward, run_sweep
from trading_pipeline.defs.profiles import ProfileError
from trading_pipeline.instance import RUN_ENVIRONMENT, write_instance_config
from trading_pipeline.journal import JournalError

DEMO_START, DEMO_END = date(2011, 3, 1), date(2013, 2, 28)


def _prepare_environment() -> Path:
    """Without DAGSTER_HOME, use ./.dagster_home so that `dagster dev` started here sees the same runs;
    a new home gets the project's dagster.yaml (batched event log, telemetry off)."""
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(Path.cwd() / ".dagster_home")
    home = Path(os.environ["DAGSTER_HOME"])
    write_instance_config(home)
    for key, value in RUN_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    return home


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trading-pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
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
    bt.add_argument(
        "--discovery", action="store_true", help="trade each session's watchlist (universe, pickers, ensemble)"
    )
    bt.add_argument(
        "--accept-move", action="append", default=[], metavar="SYMBOL:YYYY-MM-DD", dest="accepted_moves",
        help="a real close-to-close move beyond the jump limit, not to be quarantined (repeatable)",
    )  # fmt: skip
    kept = commands.add_parser("backtests", help="list the kept backtests side by side")
    kept.add_argument("--book", help="only this book's backtests")
    kept.add_argument("--json", action="store_true", help="print them as JSON lines")
    wf = commands.add_parser("walk-forward", help="pick a parameter on train windows, judge it on the next test window")
    wf.add_argument("--start", required=True, type=date.fromisoformat)
    wf.add_argument("--end", required=True, type=date.fromisoformat)
    wf.add_argument("--train-months", required=True, type=int)
    wf.add_argument("--test-months", required=True, type=int)
    wf.add_argument(
        "--param", required=True, action="append", metavar="NAME=V1,V2",
        help="repeatable, e.g. strategy=TrendFollowing,Breakout or risk_per_trade=0.005,0.01",
    )  # fmt: skip
    sweep = commands.add_parser("sweep", help="backtest a grid of book parameters on decisions made once")
    sweep.add_argument("--grid", required=True, action="append", metavar="NAME=V1,V2", help="repeatable")
    sweep.add_argument("--start", required=True, type=date.fromisoformat)
    sweep.add_argument("--end", required=True, type=date.fromisoformat)
    sweep.add_argument("--name", help="kept with each point in the journal (default: the book)")
    sweep.add_argument("--json", action="store_true", help="print the sweep's summary as JSON")
    sweep.add_argument(
        "--shards",
        type=int,
        default=1,
        help="run the points as this many separate Dagster runs through the run coordinator (needs the Dagster "
        "daemon: dagster dev, or dagster-daemon run); default 1, in this process",
    )
    for research in (wf, sweep):
        research.add_argument("--symbols", help="comma-separated tickers (default: every symbol in the data)")
        research.add_argument("--data", help="CSV or Parquet bars file (default: the bundled sample)")
        research.add_argument("--book", default=research.prog.split()[-1], help="the sweep's book (its report folder)")
        research.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    check = commands.add_parser("check-journal", help="check a book's journal against its invariants")
    check.add_argument("--book", required=True, help="the book to check")
    check.add_argument("--data", help="bars file the fills are checked against (default: the bundled sample)")
    halt = commands.add_parser("halt", help="halt a book: no new entry, its pending entries cancelled")
    resume = commands.add_parser("resume", help="lift a book's halt")
    for switch in (halt, resume):
        switch.add_argument("--book", required=True, help="the book")
        switch.add_argument("--operator", required=True, help="who (journaled)")
        switch.add_argument("--reason", required=True, help="why (journaled)")
    halt.add_argument("--flatten", action="store_true", help="also sell every position at the next open")
    status = commands.add_parser("status", help="the profile, providers, keys, broker, book, breaker, halt, last cycle")
    status.add_argument("--json", action="store_true", help="print it as JSON")
    cycle = commands.add_parser("cycle", help="run the profile's daily cycle for one session (no reset)")
    cycle.add_argument(
        "--session", type=date.fromisoformat, help="YYYY-MM-DD (default: the broker's latest closed session)"
    )
    per_strategy = commands.add_parser("strategies", help="backtest each strategy alone and print a table")
    per_strategy.add_argument("--start", type=date.fromisoformat, default=DEMO_START)
    per_strategy.add_argument("--end", type=date.fromisoformat, default=DEMO_END)
    per_strategy.add_argument("--symbols", help="comma-separated tickers (default: every symbol in the data)")
    per_strategy.add_argument("--data", help="CSV or Parquet bars file (default: the bundled sample)")
    return parser


def _symbols(text: str | None) -> list[str] | None:
    return [s.strip().upper() for s in text.split(",") if s.strip()] if text else None


def _backtest(args: argparse.Namespace) -> Backtest:
    if args.command == "demo":
        return Backtest(DEMO_START, DEMO_END, out=args.out, book="demo")
    return Backtest(
        args.start,
        args.end,
        symbols=_symbols(args.symbols),
        data=args.data,
        out=getattr(args, "out", None),
        book=getattr(args, "book", "backtest"),
        strategy=getattr(args, "strategy", None),
        plugins=getattr(args, "plugin", []),
        name=getattr(args, "name", None),
        tearsheet=getattr(args, "out", None) is not None,
        discovery=getattr(args, "discovery", False),
        accepted_moves=getattr(args, "accepted_moves", []),
    )


def _run(args: argparse.Namespace, home: Path) -> int:
    if args.command == "backtests":
        print_backtests(home, args.book, args.json)
        return 0
    if args.command == "check-journal":
        return print_journal_check(home, args.book, args.data)
    if args.command == "status":
        with DagsterInstance.get() as instance:
            if args.json:
                status = desk_status(instance)
                print(json.dumps(status, default=str))
                return 1 if "error" in status["broker"] else 0
            return print_status(instance)
    if args.command == "cycle":
        with DagsterInstance.get() as instance:
            for line in run_cycle(args.session, instance):
                print(line)
        return 0
    if args.command == "halt":
        print(run_halt(args.book, args.operator, args.reason, args.flatten))
        return 0
    if args.command == "resume":
        print(run_resume(args.book, args.operator, args.reason))
        return 0
    if args.command == "walk-forward":
        print_walk_forward(run_sweep(_backtest(args), args.param, args.workers, args.train_months, args.test_months))
        return 0
    if args.command == "sweep":
        summary = run_sweep(_backtest(args), args.grid, args.workers, shards=args.shards)
        if args.json:
            print(json.dumps(summary, default=str))
        else:
            print_sweep(summary)
        return 0
    if args.command == "strategies":
        print_strategy_table(_backtest(args))
        return 0
    began = time.perf_counter()
    as_json = getattr(args, "json", False)
    result = run_backtest(_backtest(args), log_level="WARNING" if as_json else "INFO")
    runtime_s = time.perf_counter() - began
    if as_json:
        print(json.dumps({**result.metrics, "runtime_s": round(runtime_s, 3)}, default=float))
    else:
        print_summary(result, runtime_s)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    home = _prepare_environment()
    if getattr(args, "plugin", None):
        # A console script does not see the current folder; user strategy modules usually live there.
        sys.path.insert(0, str(Path.cwd()))
    # Python's collector walks every tracked object at each full collection and once more at exit: with
    # Dagster and the data libraries loaded that was ~10% of a 5-year backtest. What exists now lives until
    # exit, so it is moved out of the collector's way (again before returning, for the exit's pass).
    gc.freeze()
    try:
        code = _run(args, home)
    except (BacktestError, SwitchError, JournalError, ProfileError, ValueError) as exc:
        if args.debug:
            traceback.print_exc()
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"trading-pipeline: {line}", file=sys.stderr)
        return 1
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(main())
