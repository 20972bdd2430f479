"""`trading-pipeline sweep` and `walk-forward`: the sweep job through Dagster (the decisions once, a book per point),
then its table and overfitting statistics from the run's sweep.json."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import DagsterInstance, JobDefinition

from trading_pipeline.cli.backtest import Backtest, BacktestError, execute, preflight, report_dir
from trading_pipeline.defs.resources.journal import journal_url
from trading_pipeline.domain.research.sweep import parse_grid
from trading_pipeline.journal import Journal

METRICS = ("total_return", "sharpe", "max_drawdown", "trades", "n_fills")


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
) -> dict:
    """Run the sweep job over the template's range, data and book; the sweep's summary with its run id."""
    instance = instance or DagsterInstance.get()
    journal = Journal(journal_url(Path(instance.root_directory)))
    journal.create_schema()
    errors = preflight(template, instance, journal)
    try:
        parse_grid(grid)
    except ValueError as exc:
        errors.append(str(exc))
    if errors:
        raise BacktestError("\n".join(errors))
    out = report_dir(template, instance)
    config = {"grid": grid, "workers": workers, "train_months": train_months, "test_months": test_months}
    run_id = execute(
        sweep_job, template, instance, log_level, {}, {"sweep_results": {"config": {**config, "out_dir": str(out)}}}
    )
    return {**json.loads((out / "sweep.json").read_text()), "run_id": run_id, "out_dir": str(out)}


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
