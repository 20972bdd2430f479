"""sweep_results: a grid of books (or a walk-forward over it) on the range's decisions, made once per run.

The run materializes the decision assets (market_bars … validated_signals) over its range like any backfill; this
asset then runs only the book per grid point, in worker processes (``domain.research.sweep``), keeps one row per
point in the journal's backtests under the sweep's name, and shows the table, the overfitting statistics and a
picture in the UI. A pinned strategy's decisions are made here from the same market context and indicators, as the
signals and validation steps make them for a backtest pinned to it. With ``shards`` above 1 it only writes the plan
and the decisions, and the points run as separate runs (``sweep_shards.py``); ``keep_sweep`` keeps either kind.
"""

import functools
import json
from datetime import date
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetSelection,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
    in_process_executor,
)
from pydantic import Field

from trading_pipeline.defs.partitions import ranged, session_dates, sessions_partitions, single_run
from trading_pipeline.defs.reporting.charts import equity_curves, sharpe_heat_map
from trading_pipeline.defs.reporting.performance_report import code_version
from trading_pipeline.defs.research.shard_files import SWEEP_MERGE, SWEEP_SHARD, ShardPlan, shard_folder, write_plan
from trading_pipeline.defs.resources.bar_rules import BarRules
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import Broker
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.defs.resources.report_folder import SWEEP_OP, ReportFolder
from trading_pipeline.defs.resources.review import SignalReviewer
from trading_pipeline.defs.resources.selector import RuleBasedSelector
from trading_pipeline.defs.resources.strategies import StrategyCatalog
from trading_pipeline.defs.signals.indicators import indicators_with_lookback
from trading_pipeline.defs.tags import BACKTEST_NAME_TAG, SWEEP_ID_TAG
from trading_pipeline.domain.research import sweep
from trading_pipeline.domain.validation import (
    TRACK_RECORD_WINDOW,
    ValidationThresholds,
    signals_with_track_record,
    validate_signals,
)
from trading_pipeline.domain.walk_forward import windows
from trading_pipeline.journal import Journal

TABLE_COLUMNS = ("total_return", "sharpe", "max_drawdown", "trades", "n_fills")


class SweepConfig(Config):
    grid: list[str] = Field(
        default=[],
        description="NAME=V1,V2 per swept parameter (e.g. risk_per_trade=0.01,0.02); every combination is a point "
        "(none: one point, the run's configuration).",
    )
    name: str | None = Field(default=None, description="Kept with each point in the journal; default: the book.")
    workers: int | None = Field(default=None, ge=1, description="Worker processes (per shard); None: one per core.")
    shards: int = Field(
        default=1,
        ge=1,
        description="Above 1: this run makes the decisions only, and the points run as that many separate runs of "
        "sweep_shard, launched by sweep_shards_sensor through the run coordinator (a deployment's run launcher "
        "spreads them across machines); sweep_merge then keeps the results. Not with a walk-forward.",
    )
    train_months: int | None = Field(default=None, ge=1, description="With test_months: a walk-forward.")
    test_months: int | None = Field(default=None, ge=1, description="With train_months: a walk-forward.")
    out_dir: str | None = Field(default=None, description="Where sweep.json goes; None: the report folder of the book.")


@ranged(asset)(
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    group_name="research",
    kinds={"pandas"},
)
def sweep_results(
    context: AssetExecutionContext,
    config: SweepConfig,
    validated_signals: pd.DataFrame,
    indicators: pd.DataFrame,
    market_bars: pd.DataFrame,
    market_context: pd.DataFrame,
    trading: TradingBook,
    broker: Broker,
    journal: JournalResource,
    market_data: MarketData,
    bar_rules: BarRules,
    strategies: StrategyCatalog,
    reviewer: SignalReviewer,
    report_folder: ReportFolder,
) -> MaterializeResult:
    """Every point is a fresh book of ``trading``'s capital with the run's decisions (or its pinned strategy's)."""
    sessions = session_dates(context.partition_keys)
    grid = sweep.parse_grid(config.grid)
    if broker.kind != "simulated":
        raise ValueError(f"a sweep runs simulated books; the run's broker is {broker.kind}")
    base = {
        **trading.limits().model_dump(), **broker.cost_model().model_dump(),
        "initial_capital": trading.initial_capital, "max_quarantined_share": trading.max_quarantined_share,
    }  # fmt: skip
    points = sweep.expand_grid(grid, base)
    if any(p.pin for p in points) and reviewer.provider != "none":
        raise ValueError(
            f"a pinned strategy's decisions are made without a review; the run's reviewer is {reviewer.provider}"
        )
    name = config.name or context.run.tags.get(BACKTEST_NAME_TAG, trading.book)

    @functools.cache  # a walk-forward runs its books in several batches: the decisions are still made once per pin
    def decisions_for(pin: str | None) -> sweep.Decisions:
        chosen = (
            validated_signals
            if pin is None
            else _pinned(pin, sessions[0], indicators, market_context, market_data, bar_rules, strategies)
        )
        return sweep.Decisions.from_assets(sessions, chosen, indicators, market_bars)

    out = report_folder.path(Path(context.instance.root_directory), config.out_dir, trading.book, SWEEP_OP)
    if config.shards > 1:
        if config.train_months is not None or config.test_months is not None:
            raise ValueError("a walk-forward runs in one run; shards split the points of a plain sweep")
        folder = shard_folder(Path(context.instance.root_directory), context.run_id)
        plan = ShardPlan(
            sweep_id=context.run_id, name=name, book=trading.book, sessions=tuple(sessions), grid=grid,
            points=tuple(points), shards=config.shards, workers=config.workers, code_version=code_version(),
            out_dir=str(out),
        )  # fmt: skip
        write_plan(folder, plan, {pin: decisions_for(pin) for pin in dict.fromkeys(p.pin for p in points)})
        return MaterializeResult(
            metadata={
                "points": len(points),
                "shards": config.shards,
                "plan": MetadataValue.path(str(folder)),
                "next": MetadataValue.text(
                    f"sweep_shards_sensor launches {config.shards} runs of {SWEEP_SHARD} (tag {SWEEP_ID_TAG}="
                    f"{context.run_id}), then {SWEEP_MERGE}, which keeps the results and observes them on this asset"
                ),
            }
        )
    whole = sweep.run_tasks(decisions_for, [sweep.Task(p) for p in points], trading.book, config.workers)
    walked = None
    if config.train_months is not None or config.test_months is not None:
        if config.train_months is None or config.test_months is None:
            raise ValueError("a walk-forward needs both train_months and test_months")
        steps = windows(sessions[0], sessions[-1], config.train_months, config.test_months)
        walked = sweep.walk_forward(decisions_for, points, steps, trading.book, config.workers)
    return MaterializeResult(
        metadata=keep_sweep(journal.journal, context.run_id, trading.book, name, grid, whole, walked, out)
    )


def keep_sweep(
    journal: Journal,
    run_id: str,
    book: str,
    name: str,
    grid: dict[str, list],
    whole: list[sweep.PointResult],
    walked: list[sweep.WalkStep] | None,
    out: Path,
) -> dict:
    """One backtests row per point (and per walk-forward window's points) under ``run_id``, sweep.json and every
    point's equity and fills in ``out``; the metadata that shows them in the UI."""
    summary, kept = {}, [("", r) for r in whole]
    if walked is not None:
        summary, kept = _walk_summary(walked, whole)
    stats = sweep.overfitting(whole)
    table = sweep.results_table(whole, TABLE_COLUMNS)
    start, end = min(r.start for r in whole), max(r.end for r in whole)
    summary = {
        "name": name, "start": str(start), "end": str(end), "grid": grid,
        "points": _records(table), "overfitting": stats.as_dict(), **summary,
    }  # fmt: skip
    for i, (label, result) in enumerate(kept):
        journal.record_backtest(
            run_id=run_id, point=i, book=book, name=f"{name}{label}",
            parameters={**result.point.settings, "limits": result.point.limits().model_dump(),
                        "costs": result.point.costs().model_dump()},
            code_version=code_version(), start=result.start, end=result.end, metrics=result.metrics,
        )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(summary, indent=2, default=str))
    # Every point's curve and fills over the whole range, by point number (the table's #), for further study.
    pd.concat({str(i): r.equity for i, r in enumerate(whole)}, axis=1).to_parquet(out / "equity.parquet")
    pd.concat([r.fills.assign(point=i) for i, r in enumerate(whole)], ignore_index=True).to_parquet(
        out / "fills.parquet"
    )
    return {
        "points": len(whole),
        "results": MetadataValue.md(_markdown(table, stats.best)),
        "best": MetadataValue.text(
            "none (no point has a Sharpe)" if stats.best is None else whole[stats.best].point.label()
        ),
        "dsr": MetadataValue.text(stats.dsr_text),
        "pbo": MetadataValue.text(stats.pbo_text),
        "picture": _picture(table, list(grid), whole),
        "sweep_json": MetadataValue.path(str(out / "sweep.json")),
        **({"walk_forward": MetadataValue.md(_walk_markdown(summary["walk_forward"]))} if walked else {}),
    }


def _pinned(
    pin: str,
    first: date,
    indicators: pd.DataFrame,
    context: pd.DataFrame,
    market_data: MarketData,
    bar_rules: BarRules,
    strategies: StrategyCatalog,
) -> pd.DataFrame:
    """The validated signals of a backtest pinned to ``pin``, with the signals and validation steps' default
    track-record window and thresholds."""
    selection = RuleBasedSelector(pin=pin).select(context, strategies.names)
    history = indicators_with_lookback(market_data, bar_rules, indicators, first, TRACK_RECORD_WINDOW)
    frame = signals_with_track_record(history, selection, strategies.registry, TRACK_RECORD_WINDOW)
    frame = frame[frame["date"] >= pd.Timestamp(first)].reset_index(drop=True)
    return validate_signals(frame, context, ValidationThresholds())


def _walk_summary(walked: list[sweep.WalkStep], whole: list[sweep.PointResult]) -> tuple[dict, list]:
    """Each window's choice, train and test figures and statistics; the kept rows are every train point, each test
    and the whole-range grid."""
    steps, kept = [], []
    for k, step in enumerate(walked, 1):
        chosen = None if step.chosen is None else step.train[step.chosen]
        steps.append(
            {
                "window": k,
                "train": f"{step.window.train_start}..{step.window.train_end}",
                "test": f"{step.window.test_start}..{step.window.test_end}",
                "chosen": None if chosen is None else chosen.point.label(),
                "train_sharpe": None if chosen is None else chosen.sharpe,
                "train_return": None if chosen is None else chosen.metrics["total_return"],
                "test_sharpe": None if step.test is None else step.test.sharpe,
                "test_return": None if step.test is None else step.test.metrics["total_return"],
                "test_max_drawdown": None if step.test is None else step.test.metrics["max_drawdown"],
                "dsr": step.overfitting.dsr,
                "pbo": step.overfitting.pbo,
            }
        )
        kept += [(f" window {k} train", r) for r in step.train]
        kept += [] if step.test is None else [(f" window {k} test", step.test)]
    return {"walk_forward": steps}, [*kept, *((" whole range", r) for r in whole)]


def _records(table: pd.DataFrame) -> list[dict]:
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in table.to_dict("records")]


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "n/a"
    return f"{value:,.4g}" if isinstance(value, float) else str(value)


def _markdown(table: pd.DataFrame, best: int | None) -> str:
    header = ["#", *table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(_records(table)):
        mark = " (best)" if i == best else ""
        lines.append(f"| {i}{mark} | " + " | ".join(_cell(v) for v in row.values()) + " |")
    return "\n".join(lines)


def _walk_markdown(steps: list[dict]) -> str:
    columns = list(steps[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(s[c]) for c in columns) + " |" for s in steps]
    return "\n".join(lines)


def _picture(table: pd.DataFrame, swept: list[str], results: list[sweep.PointResult]) -> MetadataValue:
    """A Sharpe heat map over two swept parameters, else every point's equity curve."""
    if len(swept) == 2:
        return sharpe_heat_map(table, swept[0], swept[1], "Sharpe by point")
    return equity_curves({r.point.label(): r.equity for r in results}, "equity by point")


SWEEP = "sweep"
sweep_job = define_asset_job(
    SWEEP,
    selection=AssetSelection.groups("discovery", "market", "signals", "research"),
    executor_def=in_process_executor,
    description="The decisions over a range, then sweep_results: a grid of books on them (config: ops.sweep_results).",
)
