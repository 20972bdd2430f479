"""What the CLI prints: a backtest's summary, each strategy alone, the kept backtests."""

from __future__ import annotations

import json
from pathlib import Path

from trading_pipeline.cli.backtest import Backtest, BacktestResult, run_backtest
from trading_pipeline.defs.resources.journal import journal_url
from trading_pipeline.journal import Journal

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
    "total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate", "profit_factor", "trades",
    "turnover", "n_orders", "n_fills",
)  # fmt: skip


def print_summary(result: BacktestResult, runtime_s: float) -> None:
    print(f"\nrun {result.run_id}")
    print(f"{'metric':<16}{'value':>14}")
    for key in SUMMARY_KEYS:
        value = result.metrics.get(key)
        shown = "n/a" if value is None else (f"{value:,.4f}" if isinstance(value, float) else f"{value:,}")
        print(f"{key:<16}{shown:>14}")
    print(f"{'runtime_s':<16}{runtime_s:>14.2f}")
    print(f"\nreport: {result.out_dir}")


def print_strategy_table(template: Backtest) -> None:
    """One backtest per strategy (the selector pinned to it), through Dagster like any other backtest."""
    from trading_pipeline.domain.strategies import REGISTRY

    print(f"each strategy alone, {template.start}..{template.end}\n")
    print(f"| strategy | {' | '.join(STRATEGY_COLUMNS)} |")
    print(f"|---|{'---:|' * len(STRATEGY_COLUMNS)}")
    for name in sorted(REGISTRY):
        one = Backtest(
            template.start, template.end, symbols=template.symbols, data=template.data, book=f"strategy:{name}",
            strategy=name, tearsheet=False,
        )  # fmt: skip
        metrics = run_backtest(one, log_level="WARNING").metrics
        cells = ["n/a" if metrics.get(k) is None else f"{metrics[k]:,.4g}" for k in STRATEGY_COLUMNS]
        print(f"| {name} | {' | '.join(cells)} |", flush=True)


def print_backtests(dagster_home: Path, book: str | None, as_json: bool) -> None:
    """The journal's kept backtests, oldest first: one row each, the headline metrics side by side."""
    journal = Journal(journal_url(dagster_home))
    journal.create_schema()
    kept = journal.read_backtests(book)
    if as_json:
        for row in kept.to_dict("records"):
            print(json.dumps({**row, "start": str(row["start"]), "end": str(row["end"]),
                              "created_at": row["created_at"].isoformat()}, default=float))  # fmt: skip
        return
    if kept.empty:
        print("no backtest kept" + (f" for book {book!r}" if book else ""))
        return
    columns = ("name", "book", "start", "end", *COMPARE_COLUMNS, "parameters", "code_version", "run_id")
    print(f"| {' | '.join(columns)} |")
    print(f"|{'---|' * 4}{'---:|' * len(COMPARE_COLUMNS)}---|---|---|")
    for row in kept.to_dict("records"):
        varied = {k: v for k, v in row["parameters"].items() if k != "limits" and v not in (None, [])}
        cells = [row["name"], row["book"], str(row["start"]), str(row["end"])]
        cells += [cell(row["metrics"].get(k)) for k in COMPARE_COLUMNS]
        cells += [json.dumps(varied, sort_keys=True), row["code_version"], row["run_id"][:8]]
        print(f"| {' | '.join(cells)} |")


def cell(value) -> str:
    return "n/a" if value is None else (f"{value:,.4g}" if isinstance(value, float) else f"{value:,}")
