"""How much of the strategy selector's edge over each single strategy survives the overfitting statistics?

One sweep per data set (``trading-pipeline sweep --grid strategy=selector,<every strategy>``: the decisions once
per strategy, a book each, default limits), in a fresh DAGSTER_HOME, then from the points' daily returns:

* each book's annualized Sharpe, the selector's Deflated Sharpe Ratio as the best of all the books tried and the
  PBO of picking the best of them (CSCV);
* per strategy, the edge: the daily return of the selector's book minus that strategy's book, its annualized Sharpe,
  PSR (the probability that the edge's true Sharpe is above zero, given its skew and kurtosis) and DSR (the same,
  deflated for having compared the selector with every strategy).

    .venv/bin/python benchmarks/selector_overfitting.py                # bundled 5 stocks and the S&P 500 panel
    .venv/bin/python benchmarks/selector_overfitting.py --only bundled
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trading_pipeline.domain.research.overfitting import deflated_sharpe, probabilistic_sharpe_ratio  # noqa: E402
from trading_pipeline.domain.strategies import REGISTRY  # noqa: E402

SP500 = REPO.parent / "shared" / "data" / "daily_sp500_2013-2018.csv.gz"
DATA_SETS = {
    "bundled": ("bundled 5 stocks 2011-03..2013-02", None, "2011-03-01", "2013-02-28"),
    "sp500": ("S&P 500 2013-02..2018-02", str(SP500), "2013-02-08", "2018-02-07"),
}


def sweep(data: str | None, start: str, end: str, workers: int) -> tuple[dict, pd.DataFrame, float]:
    grid = "strategy=selector," + ",".join(sorted(REGISTRY))
    with tempfile.TemporaryDirectory() as home:
        command = [sys.executable, "-m", "trading_pipeline.cli", "sweep", "--grid", grid, "--start", start, "--end", end,
                   "--workers", str(workers), "--json", *(["--data", data] if data else [])]  # fmt: skip
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "DAGSTER_HOME": home})
        elapsed = time.perf_counter() - began
        if done.returncode:
            raise SystemExit(done.stderr)
        summary = json.loads(done.stdout.splitlines()[-1])
        equity = pd.read_parquet(Path(summary["out_dir"]) / "equity.parquet")
    return summary, equity, elapsed


def _sharpe(returns: np.ndarray) -> float | None:
    return None if np.ptp(returns) == 0 else float(returns.mean() / returns.std(ddof=1))


def _moments(returns: np.ndarray) -> tuple[float, float]:
    centered = returns - returns.mean()
    m2 = float(np.mean(centered**2))
    return float(np.mean(centered**3)) / m2**1.5, float(np.mean(centered**4)) / m2**2


def _cell(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def report(label: str, summary: dict, equity: pd.DataFrame, elapsed: float) -> None:
    names = [p["strategy"] for p in summary["points"]]
    returns = equity.pct_change().iloc[1:].to_numpy()
    selector = returns[:, names.index("selector")]
    edges = {n: selector - returns[:, i] for i, n in enumerate(names) if n != "selector"}
    edge_sharpes = {n: _sharpe(e) for n, e in edges.items()}
    scored = [s for s in edge_sharpes.values() if s is not None]
    stats = summary["overfitting"]
    print(f"\n### {label} ({len(returns) + 1} sessions; sweep {elapsed:.0f} s)\n")
    print(f"best book: {names[stats['best']] if stats['best'] is not None else 'none'}; {stats['dsr_text']}")
    print(f"{stats['pbo_text']}\n")
    selector_sr = _sharpe(selector)
    if selector_sr is not None:
        skew, kurt = _moments(selector)
        psr = probabilistic_sharpe_ratio(selector_sr, len(selector), skew, kurt)
        trials = [s for s in (_sharpe(returns[:, i]) for i in range(len(names))) if s is not None]
        dsr = deflated_sharpe(selector, trials).dsr
        print(f"selector: Sharpe {selector_sr * math.sqrt(252):.2f}, PSR(>0) {psr:.3f}, DSR among {len(trials)} books "
              f"{dsr:.3f}\n")  # fmt: skip
    print("| strategy | book Sharpe | selector − strategy: Sharpe | PSR(edge > 0) | DSR(edge, 10 comparisons) |")
    print("|---|---:|---:|---:|---:|")
    for name, edge in edges.items():
        book = summary["points"][names.index(name)]["sharpe"]
        sr = edge_sharpes[name]
        if sr is None:
            print(f"| {name} | {_cell(book)} | n/a | n/a | n/a |")
            continue
        skew, kurt = _moments(edge)
        psr = probabilistic_sharpe_ratio(sr, len(edge), skew, kurt)
        dsr = deflated_sharpe(edge, scored).dsr
        print(f"| {name} | {_cell(book)} | {sr * math.sqrt(252):.2f} | {psr:.3f} | {dsr:.3f} |")
    print(f"| **selector** | {_cell(summary['points'][names.index('selector')]['sharpe'])} | | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(DATA_SETS))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    for key, (label, data, start, end) in DATA_SETS.items():
        if args.only in (None, key):
            report(label, *sweep(data, start, end, args.workers))


if __name__ == "__main__":
    main()
