"""The quantstats tearsheet: drawn by a backtest's performance_report, and for a trading book by its own weekly
job (Saturdays 06:00 New York, or launched from the UI), so that no daily cycle spends 2-4 s on a page that
changes by one return a day. The metrics, files and equity picture stay current every session."""

import logging
import warnings
from pathlib import Path

import pandas as pd
from dagster import (
    Config,
    DefaultScheduleStatus,
    MetadataValue,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.market_data import MarketData
from trading_pipeline.defs.resources.report_folder import default_report_dir
from trading_pipeline.domain.calendar import EXCHANGE_TZ

MIN_TEARSHEET_SESSIONS = 2  # quantstats draws from daily returns: one needs two closes
WEEKLY_TEARSHEET = "weekly_tearsheet"
BENCHMARK_FIELD = Field(
    default="SPY", description="Tearsheet benchmark: this symbol's closes from market_data; None: no benchmark."
)


def draw_tearsheet(
    curve: pd.Series, market_data: MarketData, benchmark: str | None, path: Path, title: str
) -> dict[str, MetadataValue]:
    """Writes ``path`` from the equity ``curve`` (two sessions at least); the metadata says which benchmark."""
    returns, metadata = _benchmark(market_data, benchmark, curve)
    _draw(curve, returns, path, title)
    return metadata


def _benchmark(market_data: MarketData, symbol: str | None, curve: pd.Series) -> tuple[pd.Series | None, dict]:
    """The benchmark's daily returns over the curve's sessions, from the same market data as the book; an
    absent symbol is reported in metadata, and the tearsheet is made without a benchmark."""
    if symbol is None:
        return None, {"benchmark": MetadataValue.text("none configured")}
    start, end = curve.index[0].date(), curve.index[-1].date()
    got = market_data.fetch([symbol.upper()], start, end)  # a chain that served nothing says why in ``missing``
    bars = got.bars[got.bars["symbol"] == symbol.upper()]
    if bars.empty:
        reason = got.missing.get(symbol.upper(), "no bars")
        return None, {
            "benchmark": MetadataValue.text(f"{symbol.upper()} absent from {market_data.provider}: {reason}; "
                                            "tearsheet without benchmark")
        }  # fmt: skip
    closes = bars.set_index(pd.DatetimeIndex(bars["date"]))["close"].astype("float64").sort_index()
    returns = closes.reindex(pd.DatetimeIndex(curve.index)).ffill().pct_change().dropna()
    return returns, {"benchmark": MetadataValue.text(f"{symbol.upper()} ({market_data.provider})")}


def _draw(curve: pd.Series, benchmark: pd.Series | None, path: Path, title: str) -> None:
    """quantstats is offline; it only complains loudly about fonts, which we silence."""
    import quantstats as qs

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    returns = curve.pct_change().dropna()
    returns.index = pd.DatetimeIndex(returns.index)
    with warnings.catch_warnings():
        # quantstats labels its yearly axes with matplotlib's set_ticklabels without fixing the ticks first; the
        # warning is about its plotting code, not about our figures.
        warnings.filterwarnings("ignore", message="set_ticklabels", category=UserWarning)
        # A live book's first sessions are short or flat: quantstats says so per statistic, and shows them as NaN/0.
        warnings.filterwarnings("ignore", message="(Insufficient data|No non-zero returns)", category=UserWarning)
        warnings.filterwarnings("ignore", message="Degrees of freedom", category=RuntimeWarning)  # its beta on 1 return
        qs.reports.html(returns, benchmark=benchmark, output=str(path), title=title)


class WeeklyTearsheetConfig(Config):
    benchmark: str | None = BENCHMARK_FIELD


@op(description="Draw the configured book's tearsheet from its journaled equity, into its report folder.")
def weekly_tearsheet(
    context: OpExecutionContext,
    config: WeeklyTearsheetConfig,
    trading: TradingBook,
    journal: JournalResource,
    market_data: MarketData,
) -> None:
    """A read of the journal (no book lock: it changes nothing the cycles write) and one file."""
    equity = journal.journal.read("equity", book=trading.book)
    curve = equity.set_index("session")["equity"]
    if len(curve) < MIN_TEARSHEET_SESSIONS:
        why = f"book {trading.book!r} has {len(curve)} session(s) of equity; a tearsheet needs {MIN_TEARSHEET_SESSIONS}"
        context.log.info(f"no tearsheet: {why}")
        context.add_output_metadata({"tearsheet": MetadataValue.text(f"none: {why}")})
        return
    out = default_report_dir(Path(context.instance.root_directory), trading.book)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "tearsheet.html"
    metadata = draw_tearsheet(curve, market_data, config.benchmark, path, f"trading_pipeline - {trading.book}")
    last = curve.index[-1].date()
    context.log.info(f"book {trading.book}: tearsheet through {last} at {path}")
    context.add_output_metadata(
        {**metadata, "tearsheet": MetadataValue.path(str(path)), "through": last.isoformat(), "sessions": len(curve)}
    )


@job(description="The trading book's quantstats tearsheet, weekly (a backtest draws its own in performance_report).")
def weekly_tearsheet_job() -> None:
    weekly_tearsheet()


weekly_tearsheet_schedule = ScheduleDefinition(
    name="weekly_tearsheet_schedule",
    job=weekly_tearsheet_job,
    cron_schedule="0 6 * * 6",
    execution_timezone=EXCHANGE_TZ,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Saturdays 06:00 New York: the week's tearsheet of the profile's book.",
)
