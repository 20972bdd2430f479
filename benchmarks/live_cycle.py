"""One daily live cycle, in-process, against the local Alpaca server: the paper profile's daily_cycle job for one
session (warm-up fetch through alpaca-py, selection, validation, sizing, checks, orders sent as brackets/OTOs,
settlement and protection of what the previous session filled), for 5 and 50 symbols of the S&P 500 panel.

    .venv/bin/python benchmarks/live_cycle.py [--symbols 5,50] [--sessions 3] [--data ...csv.gz]

Each size gets a fresh DAGSTER_HOME with the project's dagster.yaml (as `trading-pipeline cycle` makes one), journal
and sandbox account; the sandbox's clock moves to each session's evening
and the cycle runs, so the first cycle starts a book and the next ones settle fills and place exits. Printed: each
cycle's wall time, the median, and the ratio between sizes. The sandbox serves from the same process (its HTTP
handling is counted: a real broker's round trips cost more).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from datetime import time as clock_time
from itertools import pairwise
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "daily_sp500_2013-2018.csv.gz"
FIRST_SESSION = date(2017, 6, 1)
# The steps up to the orders leaving (the checks and reports run after): "orders out" is the cycle minus the rest.
ORDERS_OUT = {"market_bars", "market_bars_bars_valid", "indicators", "market_context",
              "strategy_selection.select_strategies", "signals", "validated_signals.quant_validation",
              "validated_signals.review_signals", "sized_orders", "sized_orders_risk_checks", "execution"}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", default="5,50")
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--steps", action="store_true", help="print each cycle's slowest steps")
    args = parser.parse_args()
    os.environ.setdefault("DAGSTER_HOME", tempfile.mkdtemp(prefix="live_cycle_home_"))

    from trading_pipeline.domain import calendar
    from trading_pipeline.domain.bars import load_bars_file

    began = time.perf_counter()
    panel = load_bars_file(args.data)
    print(f"panel: {len(panel):,} bars loaded in {time.perf_counter() - began:.1f} s (not counted)")
    sessions = [calendar.session_offset(FIRST_SESSION, i).date() for i in range(args.sessions)]
    medians = {}
    for size in (int(s) for s in args.symbols.split(",")):
        symbols = sorted(panel.loc[panel["date"] <= pd_ts(sessions[0]), "symbol"].unique())[:size]
        times = cycle_times(panel[panel["symbol"].isin(symbols)], symbols, sessions, args.steps)
        medians[size] = statistics.median(t for t, _, _ in times)
        out = statistics.median(o for _, o, _ in times)
        report = statistics.median(r for _, _, r in times)
        print(f"{size:>3} symbols: cycles " + ", ".join(f"{t:.2f}" for t, _, _ in times) + f" s; median {medians[size]:.2f} s"
              f", orders out after {out:.2f} s, performance_report {report:.2f} s")  # fmt: skip
    sizes = sorted(medians)
    for small, large in pairwise(sizes):
        print(f"ratio {large}/{small} symbols: {medians[large] / medians[small]:.2f}x")
    return 0


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Each step's duration, from the run's event log."""
    started, seconds = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds[event.step_key] = record.timestamp - started[event.step_key]
    return seconds


def project_instance(home: Path):
    """The instance `trading-pipeline cycle` and `make ui` use: the project's dagster.yaml in a new DAGSTER_HOME
    (SQLite with the batched event log, or PostgreSQL when ``DAGSTER_POSTGRES_*`` is set)."""
    from dagster import DagsterInstance

    from trading_pipeline.instance import RUN_ENVIRONMENT, write_instance_config

    write_instance_config(home)  # PostgreSQL when DAGSTER_POSTGRES_* is set, as under compose
    os.environ.update(RUN_ENVIRONMENT)
    return DagsterInstance.from_config(str(home))


def pd_ts(day: date):
    import pandas as pd

    return pd.Timestamp(day)


def cycle_times(bars, symbols: list[str], sessions: list[date], show_steps: bool) -> list[tuple[float, float, float]]:
    from trading_pipeline.definitions import build_defs
    from trading_pipeline.defs.profiles import profile_from
    from trading_pipeline.sandbox.alpaca_server import API_KEY_PREFIX, NEW_YORK, SECRET_KEY, AlpacaSandbox

    def evening(day: date) -> datetime:
        return datetime.combine(day, clock_time(16, 30), tzinfo=NEW_YORK)

    times = []
    with (
        tempfile.TemporaryDirectory() as home,
        project_instance(Path(home)) as instance,
        AlpacaSandbox(bars=bars, now=evening(sessions[0])) as server,
    ):
        env = {
            "TRADING_PROFILE": "paper",
            "ALPACA_API_KEY": f"{API_KEY_PREFIX}BENCH{len(symbols):06d}",  # a rate-limit window per size
            "ALPACA_SECRET_KEY": SECRET_KEY,
            "ALPACA_BASE_URL": server.url,
            "TRADING_SYMBOLS": ",".join(symbols),
        }
        os.environ.update(env)
        job = build_defs(profile_from(env)).resolve_job_def("daily_cycle")
        for day in sessions:
            server.advance_to(evening(day))
            began = time.perf_counter()
            result = job.execute_in_process(
                instance=instance,
                partition_key=day.isoformat(),
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            )
            total = time.perf_counter() - began
            if not result.success:
                print(f"cycle {day} failed (see the run in {home})", file=sys.stderr)
                raise SystemExit(1)
            steps = step_seconds(instance, result.run_id)
            if show_steps:
                slowest = sorted(steps.items(), key=lambda item: -item[1])[:12]
                print(f"    {day}: {total:.2f} s; " + ", ".join(f"{key} {s:.2f}" for key, s in slowest))
            times.append(
                (total, total - sum(s for k, s in steps.items() if k not in ORDERS_OUT), steps["performance_report"])
            )
        placed = len(server.orders)
        print(
            f"    {placed} orders at the broker, {len(server.account.positions)} positions after {len(sessions)} cycles"
        )
    return times


if __name__ == "__main__":
    sys.exit(main())
