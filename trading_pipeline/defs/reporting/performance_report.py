"""performance_report: the book's metrics, trade files and quantstats tearsheet up to the range's end."""

import functools
import importlib.metadata
import json
import subprocess
import traceback
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetKey, AssetObservation, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from trading_pipeline.dagster_internals.events import log_observations
from trading_pipeline.defs.details import with_details
from trading_pipeline.defs.partitions import ranged, session_dates, sessions_partitions, single_run
from trading_pipeline.defs.reporting.charts import equity_and_drawdown
from trading_pipeline.defs.reporting.tearsheet import (
    BENCHMARK_FIELD,
    MIN_TEARSHEET_SESSIONS,
    WEEKLY_TEARSHEET,
    draw_tearsheet,
)
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import Broker
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.defs.resources.report_folder import ReportFolder
from trading_pipeline.defs.tags import BACKTEST_NAME_TAG, BACKTEST_PARAMETERS_TAG
from trading_pipeline.domain.llm.lookahead import lookahead_exposure
from trading_pipeline.domain.metrics import performance_metrics, round_trips, trade_table
from trading_pipeline.journal import Journal
from trading_pipeline.journal.books import BookJournal

PORTFOLIO = AssetKey("portfolio")


class ReportConfig(Config):
    out_dir: str | None = Field(
        default=None,
        description="Where the files go; None means <DAGSTER_HOME>/trading_pipeline/reports/<book>. Under the paper "
        "and live profiles, inside DAGSTER_HOME only (a relative path is taken from there).",
    )
    tearsheet: bool = Field(
        default=True,
        description="Write a backtest's quantstats HTML tearsheet (2-4 s); a trading book's is weekly, by the "
        "weekly_tearsheet job.",
    )
    benchmark: str | None = BENCHMARK_FIELD
    curve_observations: bool = Field(
        default=True,
        description="Log one observation of `portfolio` per session with its equity and drawdown (~0.4 s per 1,000).",
    )


@ranged(asset)(
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    deps=["portfolio", "fills", "audit_report"],
    group_name="reporting",
    kinds={"pandas"},
)
def performance_report(
    context: AssetExecutionContext,
    config: ReportConfig,
    trading: TradingBook,
    journal: JournalResource,
    market_data: MarketData,
    broker: Broker,
    report_folder: ReportFolder,
) -> MaterializeResult:
    """Covers the book's whole journaled history up to the last session of the range: for a backtest,
    the backtest; for a live book, its track record. The run's last step: it commits the run's results to the
    book (a simulated run's; a real broker's run committed when its orders left) and keeps a backtest's report."""
    sessions = session_dates(context.partition_keys)
    end = sessions[-1]
    book = journal.book(context, trading.book)
    equity = book.read("equity", end=end)
    curve = equity.set_index("session")["equity"]
    try:
        metrics, metadata = _report(
            context, config, trading, book, market_data, report_folder, equity, sessions, broker.kind == "simulated"
        )
    except Exception as error:
        if broker.kind == "simulated":
            raise
        # The cycle's orders are at the broker and journaled: a report that cannot be made must not fail it.
        trace = "".join(traceback.format_exception(error))
        context.log.error(f"book {trading.book}: no report this session, the cycle stands:\n{trace}")
        metrics, metadata = {}, {"report_error": MetadataValue.text(f"{type(error).__name__}: {error}")}
    lookahead = _lookahead_metadata(journal.journal, book, end)
    tags = context.run.tags
    with book.transaction("commit the run and keep its report"):
        book.commit(broker.kind, trading.initial_capital)
        if broker.kind == "simulated":  # the kept backtests are backtests, not a trading book's cycles
            journal.journal.record_backtest(
                run_id=context.run_id,
                book=trading.book,
                name=tags.get(BACKTEST_NAME_TAG, trading.book),
                parameters={
                    **json.loads(tags.get(BACKTEST_PARAMETERS_TAG, "{}")),
                    "limits": trading.limits().model_dump(),
                },
                code_version=code_version(),
                start=curve.index[0],
                end=end,
                metrics=metrics,
            )
    return MaterializeResult(metadata={**metadata, "sessions": len(curve), **lookahead})


def _report(
    context: AssetExecutionContext,
    config: ReportConfig,
    trading: TradingBook,
    book: BookJournal,
    market_data: MarketData,
    report_folder: ReportFolder,
    equity: pd.DataFrame,
    sessions: list,
    backtest: bool,
) -> tuple[dict, dict]:
    """The metrics, the trade files, the tearsheet (from two sessions on: one needs a return) and the curve.
    A trading book's tearsheet is drawn weekly by its own job (``tearsheet.py``)."""
    end = sessions[-1]
    fills = book.read("fills", end=end)
    orders = book.read("orders", end=end)
    curve = equity.set_index("session")["equity"]
    # A fill is credited to the strategy of its order, so trades group by the strategy that opened them.
    strategy_of = orders.set_index("client_order_id")["strategy"]
    fills = fills.assign(strategy=fills["client_order_id"].map(strategy_of))
    metrics = performance_metrics(curve, fills)
    metrics.update(n_orders=len(orders), n_fills=len(fills))
    trips = round_trips(fills)
    tables = {by: trade_table(trips, by) for by in ("strategy", "symbol")}

    out = report_folder.path(Path(context.instance.root_directory), config.out_dir, trading.book)
    out.mkdir(parents=True, exist_ok=True)
    equity.to_csv(out / "equity.csv", index=False)
    fills.to_csv(out / "fills.csv", index=False)
    orders.to_csv(out / "orders.csv", index=False)
    trips.to_csv(out / "round_trips.csv", index=False)
    for by, table in tables.items():
        table.to_csv(out / f"by_{by}.csv")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    extra: dict = {}
    if config.tearsheet and not backtest:
        last = out / "tearsheet.html"
        drawn = f"the last one: {last}" if last.exists() else "none drawn yet"
        extra["tearsheet"] = MetadataValue.text(
            f"weekly for a trading book: the {WEEKLY_TEARSHEET} job draws it (Saturdays 06:00 New York, or launch "
            f"it); {drawn}"
        )
    elif config.tearsheet and len(curve) < MIN_TEARSHEET_SESSIONS:
        extra["tearsheet"] = MetadataValue.text(
            f"none: {len(curve)} session(s) of equity, a tearsheet needs {MIN_TEARSHEET_SESSIONS} (one daily return)"
        )
    elif config.tearsheet:
        title = f"trading_pipeline - {trading.book}"
        extra = draw_tearsheet(curve, market_data, config.benchmark, out / "tearsheet.html", title)
    if config.curve_observations:
        _log_curve(context, equity, sessions)
    summary = {
        **{k: MetadataValue.float(float(v)) for k, v in metrics.items() if isinstance(v, int | float)},
        "report_dir": MetadataValue.path(str(out)),
        **extra,
    }
    details = {
        "equity_and_drawdown": equity_and_drawdown(curve, f"{trading.book}: equity and drawdown"),
        **{f"by_{by}": MetadataValue.md(_markdown(table)) for by, table in tables.items()},
    }
    return metrics, with_details(context, summary, details)


@functools.cache
def code_version() -> str:
    """The package version, plus the git commit of its checkout (``.dirty`` with local changes) when it is
    one; read locally, never over the network."""
    version = importlib.metadata.version("trading_pipeline")
    root = Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return version  # no git here: the version alone
    if commit.returncode != 0:
        return version  # not a checkout (an installed package)
    return f"{version}+{commit.stdout.strip()}{'.dirty' if dirty.stdout.strip() else ''}"


def _markdown(table: pd.DataFrame) -> str:
    """A trade table as a Markdown table (no tabulate dependency); a missing profit factor shows as n/a."""
    if table.empty:
        return "no closed trades"
    header = [table.index.name, *table.columns]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(table.columns)]
    for key, row in table.iterrows():
        cells = [
            f"{int(row['trades'])}",
            f"{row['win_rate']:.1%}",
            f"{row['pnl']:,.2f}",
            "n/a" if pd.isna(row["profit_factor"]) else f"{row['profit_factor']:.2f}",
        ]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _log_curve(context: AssetExecutionContext, equity: pd.DataFrame, sessions: list) -> None:
    """One observation of `portfolio` per session of the range, partitioned by session, with numeric ``equity``
    and ``drawdown``. In Dagster 1.13's UI each session's values are on the asset's Events tab and its Partitions
    tab, and Overview > Metadata > Plots > Events draws both curves over the latest 100 events. The Plots'
    Partitions view does not show them: it reads only materializations of the definition's latest 120 sessions."""
    in_range = equity[equity["session"].dt.date.isin(set(sessions))]
    log_observations(
        context,
        [
            AssetObservation(
                asset_key=PORTFOLIO,
                partition=session.strftime("%Y-%m-%d"),
                metadata={"equity": MetadataValue.float(float(value)), "drawdown": MetadataValue.float(float(dd))},
            )
            for session, value, dd in zip(in_range["session"], in_range["equity"], in_range["drawdown"], strict=True)
        ],
    )


def _lookahead_metadata(journal: Journal, book: BookJournal, end) -> dict:
    """Flags a backtest whose decisions a live LLM made after the sessions had closed (the model may know
    how the period ended), or that replays LLM decisions recorded by another run."""
    replayed = book.strategy_choice_counts(end=end, outcome="replay")
    replayed_llm = int(replayed.loc[~replayed["provider"].str.startswith("rules"), "rows"].sum())
    exposure = lookahead_exposure(journal.read("llm_calls", book=book.book, end=end), replayed_llm)
    flag = {"lookahead_exposed": MetadataValue.bool(exposure.exposed)}
    return {**flag, "lookahead": MetadataValue.text(exposure.describe())} if exposure.exposed else flag
