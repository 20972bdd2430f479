"""performance_report: the book's metrics, trade files and quantstats tearsheet up to the range's end."""

import json
import logging
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from trading_pipeline.defs.partitions import session_dates, sessions_partitions, single_run
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.domain.metrics import performance_metrics


class ReportConfig(Config):
    out_dir: str | None = Field(
        default=None, description="Where the files go; None means <DAGSTER_HOME>/trading_pipeline/reports/<book>."
    )
    tearsheet: bool = Field(default=True, description="Write the quantstats HTML tearsheet (takes a few seconds).")


@asset(
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    deps=["portfolio", "fills"],
    group_name="reporting",
    kinds={"pandas"},
)
def performance_report(
    context: AssetExecutionContext, config: ReportConfig, trading: TradingBook, journal: JournalResource
) -> MaterializeResult:
    """Covers the book's whole journaled history up to the last session of the range: for a backtest,
    the backtest; for a live book, its track record."""
    end = session_dates(context.partition_keys)[-1]
    j = journal.journal
    equity = j.read("equity", book=trading.book, end=end)
    fills = j.read("fills", book=trading.book, end=end)
    orders = j.read("orders", book=trading.book, end=end)
    curve = equity.set_index("session")["equity"]
    metrics = performance_metrics(curve, fills)
    metrics.update(n_orders=len(orders), n_fills=len(fills))

    out = Path(config.out_dir) if config.out_dir else Path(context.instance.root_directory) / "trading_pipeline" / "reports" / trading.book
    out.mkdir(parents=True, exist_ok=True)
    equity.to_csv(out / "equity.csv", index=False)
    fills.to_csv(out / "fills.csv", index=False)
    orders.to_csv(out / "orders.csv", index=False)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    if config.tearsheet:
        _tearsheet(curve, out / "tearsheet.html", title=f"trading_pipeline - {trading.book}")

    return MaterializeResult(
        metadata={
            **{k: MetadataValue.float(float(v)) for k, v in metrics.items() if isinstance(v, int | float)},
            "report_dir": MetadataValue.path(str(out)),
            "sessions": len(curve),
        }
    )


def _tearsheet(curve: pd.Series, path: Path, title: str) -> None:
    """quantstats is offline; it only complains loudly about fonts, which we silence."""
    import quantstats as qs

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    returns = curve.pct_change().dropna()
    returns.index = pd.DatetimeIndex(returns.index)
    qs.reports.html(returns, output=str(path), title=title)
