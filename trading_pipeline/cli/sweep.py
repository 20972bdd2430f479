"""`trading-pipeline sweep` and `walk-forward`: the sweep job through Dagster (the decisions once, a book per point),
then its table and overfitting statistics from the run's sweep.json."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, JobDefinition, RunsFilter

from trading_pipeline.cli.backtest import Backtest, BacktestError, execute, preflight, report_dir
from trading_pipeline.defs.resources.journal import journal_url
from trading_pipeline.defs.tags import SWEEP_ID_TAG, SWEEP_PART_TAG
from trading_pipeline.domain.research.sweep import parse_grid
from trading_pipeline.journal import Journal

METRICS = ("total_return", "sharpe", "max_drawdown", "trades", "n_fills")
SHARD_WAIT_S, POLL_S = 300.0, 1.0


def sweep_job() -> JobDefinition:
    """The sweep job from the project's Definitions, reconstructable for ``execute_job``."""
    from trading_pipeline.definitions import defs
    from trading_pipeline.defs.research.sweep_results import SWEEP

    return defs.resolve_job_def(SWEEP)


def run_sweep(
    template: Backtest,
    grid: list[str],
    workers: int | None = None,
    train_months: int | None = None,
    test_months: int | None = None,
    instance: DagsterInstance | None = None,
    log_level: str = "WARNING",
    shards: int = 1,
    wait_s: float | None = None,
) -> dict:
    """Run the sweep job over the template's range, data and book; the sweep's summary with its run id. With
    ``shards`` above 1 the run makes the decisions, and this waits for the daemon's shard and merge runs."""
    instance = instance or DagsterInstance.get()
    journal = Journal(journal_url(Path(instance.root_directory)))
    journal.create_schema()
    errors = preflight(template, instance, journal)
    try:
        parse_grid(grid)
    except ValueError as exc:
        errors.append(str(exc))
    if shards < 1:
        errors.append(f"--shards must be at least 1, got {shards}")
    elif shards > 1 and (train_months or test_months):
        errors.append("--shards splits a plain sweep; a walk-forward runs in one run")
    if errors:
        raise BacktestError("\n".join(errors))
    out = report_dir(template, instance)
    config = {
        "grid": grid, "workers": workers, "train_months": train_months, "test_months": test_months, "shards": shards,
    }  # fmt: skip
    run_id = execute(
        sweep_job, template, instance, log_level, {}, {"sweep_results": {"config": {**config, "out_dir": str(out)}}}
    )
    if shards > 1:
        wait_for_merge(instance, run_id, shards, SHARD_WAIT_S if wait_s is None else wait_s)
    return {**json.loads((out / "sweep.json").read_text()), "run_id": run_id, "out_dir": str(out)}


def wait_for_merge(instance: DagsterInstance, sweep_id: str, shards: int, wait_s: float) -> None:
    """Until the sweep's merge run succeeds; BacktestError when a part fails, or when for ``wait_s`` no part ran and
    none changed (no daemon ticking sweep_shards_sensor, or a queue full of other runs: the decisions stay, and the
    shards start when it runs). A shard that runs for hours is waited for."""
    seen, last_change = "", time.monotonic()
    while True:
        parts = instance.get_runs(RunsFilter(tags={SWEEP_ID_TAG: sweep_id}))
        state = ", ".join(sorted(f"{r.tags.get(SWEEP_PART_TAG)}: {r.status.value.lower()}" for r in parts))
        if state != seen:
            print(f"sweep {sweep_id}: {state or 'waiting for sweep_shards_sensor'}", file=sys.stderr)
            seen, last_change = state, time.monotonic()
        merge = [r for r in parts if r.tags.get(SWEEP_PART_TAG) == "merge"]
        if merge and merge[0].status == DagsterRunStatus.SUCCESS:
            return
        failed = [r for r in parts if r.status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)]
        if failed:
            names = ", ".join(f"{r.tags.get(SWEEP_PART_TAG)} (run {r.run_id})" for r in failed)
            raise BacktestError(f"sweep {sweep_id}: {names} did not succeed; re-execute it in the Dagster UI")
        if any(r.status in (DagsterRunStatus.STARTING, DagsterRunStatus.STARTED) for r in parts):
            last_change = time.monotonic()  # a shard is working: a long one is not a stall (a dead one is failed)
        if time.monotonic() - last_change > wait_s:
            raise BacktestError(
                f"sweep {sweep_id}: nothing moved for {wait_s:.0f} s ({state or 'no shard run launched'}). The shard "
                "runs are launched by sweep_shards_sensor in the Dagster daemon (dagster dev, or dagster-daemon run) "
                f"and queued by the run coordinator; the decisions are kept, so they start as soon as it runs"
            )
        time.sleep(POLL_S)


def _cell(value) -> str:
    return "n/a" if value is None else (f"{value:,.4g}" if isinstance(value, float) else str(value))


def print_sweep(summary: dict) -> None:
    """Every point side by side (the best marked), then the Deflated Sharpe Ratio and the PBO."""
    points, best = summary["points"], summary["overfitting"]["best"]
    print(
        f"sweep {summary['name']!r}, {summary['start']}..{summary['end']}: {len(points)} point(s), run {summary['run_id']}\n"
    )
    columns = list(points[0])
    print(f"| # | {' | '.join(columns)} |")
    print(f"|---:|{'---|' * len(columns)}")
    for i, point in enumerate(points):
        print(f"| {i}{' (best)' if i == best else ''} | {' | '.join(_cell(point[c]) for c in columns)} |")
    _print_overfitting(summary["overfitting"])
    print(f"\nkept: trading-pipeline backtests; files: {summary['out_dir']}")


def _print_overfitting(stats: dict) -> None:
    print(f"\nDeflated Sharpe Ratio: {stats['dsr_text']}")
    print(f"Probability of Backtest Overfitting: {stats['pbo_text']}")


def print_walk_forward(summary: dict) -> None:
    """Each window's choice on its train range and how it did on the test range, with the window's DSR and PBO; then
    the whole range's statistics."""
    steps = summary["walk_forward"]
    print(f"walk-forward over {summary['grid']}: {len(steps)} window(s), the best train Sharpe goes out of sample")
    print("(a point without a Sharpe is never chosen; a window where no point has one is not tested)\n")
    columns = list(steps[0])
    print(f"| {' | '.join(columns)} |")
    print(f"|{'---|' * len(columns)}")
    for step in steps:
        print(f"| {' | '.join(_cell(step[c]) for c in columns)} |")
    print("\nthe whole range, every point:")
    _print_overfitting(summary["overfitting"])
