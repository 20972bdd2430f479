"""A 100-point sweep against the cost of 100 separate backtests, on the S&P 500 panel.

    .venv/bin/python benchmarks/sweep_speed.py                       # 500 symbols x 5 years, 10 x 10 grid
    .venv/bin/python benchmarks/sweep_speed.py --symbols 50 --points 4  # quick

The CSV is converted once to Parquet (first N symbols in alphabetical order). Each measurement is a child process
``python -m trading_pipeline.cli ...`` with its own fresh DAGSTER_HOME: the sweep (``--grid risk_per_trade=...
--grid atr_stop_multiple=...``, the decisions once and a book per point in worker processes) and one backtest of the
same data and range (the daily cycle with its default parameters), whose time x the number of points is what the
same grid costs as separate backtests. ``wall_s`` includes start-up. ``memory`` is sampled every 0.2 s over the
child and its workers: the sum of their proportional set sizes (PSS: pages shared between the forked workers and
their parent are counted once, split among them) and the largest single RSS.

Side by side, backtesting.py's ``Backtest.optimize`` on the same bars (``backtesting_py_grid.py``): its bare SMA
cross over a grid of as many points, one ``Backtest`` per symbol (it has no portfolio), on the first
``--bt-symbols`` symbols, its time scaled linearly to the sweep's symbols (each symbol is an independent run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "daily_sp500_2013-2018.csv.gz"


def _tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        kids = [int(p) for p in children.read_text().split()]
    except OSError:
        return []
    return [pid, *(q for k in kids for q in _tree(k))]


def _kib(path: str, field: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def measure(command: list[str], env: dict) -> tuple[float, dict, float, float]:
    """(wall s, the JSON of the last stdout line, peak summed PSS MB, peak single RSS MB)."""
    peaks = {"pss": 0, "rss": 0}
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            pids = _tree(proc.pid)
            peaks["pss"] = max(peaks["pss"], sum(_kib(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids))
            peaks["rss"] = max([peaks["rss"], *(_kib(f"/proc/{p}/status", "VmRSS:") for p in pids)])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - began
    done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(command[3:6])} failed:\n{err[-3000:]}")
    return wall, json.loads(out.splitlines()[-1]), peaks["pss"] / 1024, peaks["rss"] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--points", type=int, default=100, help="a square grid: sqrt(points) values each")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--bt-symbols",
        type=int,
        default=50,
        help="symbols for backtesting.py's optimize, side by side (0: skip); its time is scaled to --symbols",
    )
    args = parser.parse_args()
    side = math.isqrt(args.points)
    risks = ",".join(f"{r:.4f}" for r in np.linspace(0.005, 0.03, side))
    stops = ",".join(f"{s:.2f}" for s in np.linspace(1.0, 4.0, side))

    bars = pd.read_csv(DATA, parse_dates=["date"])
    bars = bars.rename(columns={"Name": "symbol", "name": "symbol"})
    symbols = sorted(bars["symbol"].unique())[: args.symbols]
    end = bars["date"].max()
    start = max(bars["date"].min(), end - pd.DateOffset(years=args.years) + pd.Timedelta(days=1))
    span = ["--start", str(start.date()), "--end", str(end.date())]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bars.parquet"
        bars[bars["symbol"].isin(symbols)].to_parquet(data)
        python = [sys.executable, "-m", "trading_pipeline.cli"]
        runs = {}
        for name, extra in (
            ("backtest", ["backtest", "--json", "--book", "one"]),
            (
                "sweep",
                ["sweep", "--json", "--grid", f"risk_per_trade={risks}", "--grid", f"atr_stop_multiple={stops}",
                 "--workers", str(args.workers)],
            ),
        ):  # fmt: skip
            home = Path(tmp) / name
            home.mkdir()
            env = {**os.environ, "DAGSTER_HOME": str(home)}
            runs[name] = measure([*python, extra[0], *span, "--data", str(data), *extra[1:]], env)
            print(f"{name}: {runs[name][0]:.1f} s wall, PSS {runs[name][2]:,.0f} MB, largest RSS {runs[name][3]:,.0f} MB",
                  flush=True)  # fmt: skip
        if args.bt_symbols:
            home = Path(tmp) / "backtesting_py"
            home.mkdir()
            script = [sys.executable, str(REPO / "benchmarks" / "backtesting_py_grid.py"), str(data)]
            options = [
                "--start",
                span[1],
                "--end",
                span[3],
                "--symbols",
                str(args.bt_symbols),
                "--points",
                str(args.points),
            ]
            runs["backtesting.py"] = measure([*script, *options], {**os.environ})
    one, sweep = runs["backtest"][0], runs["sweep"][0]
    points = len(runs["sweep"][1]["points"])
    print(f"\n{len(symbols)} symbols, {span[1]}..{span[3]}, {points} points, {args.workers} workers, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| what | wall s | per point s | peak PSS MB | largest RSS MB |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| one backtest (daily cycle) | {one:.1f} | {one:.1f} | {runs['backtest'][2]:,.0f} | {runs['backtest'][3]:,.0f} |"
    )
    print(f"| {points} backtests (one x {points}) | {one * points:,.0f} | {one:.1f} | | |")
    print(f"| sweep of {points} points | {sweep:.1f} | {sweep / points:.2f} | {runs['sweep'][2]:,.0f} | "
          f"{runs['sweep'][3]:,.0f} |")  # fmt: skip
    if "backtesting.py" in runs:
        wall, result, pss, rss = runs["backtesting.py"]
        scale = len(symbols) / result["symbols"]
        print(f"| backtesting.py `Backtest.optimize`, bare SMA cross, {result['points']} points, {result['symbols']} "
              f"symbols | {wall:.1f} | {wall / result['points']:.2f} | {pss:,.0f} | {rss:,.0f} |")  # fmt: skip
        print(f"| the same, scaled to {len(symbols)} symbols (x{scale:g}) | {wall * scale:,.0f} | "
              f"{wall * scale / result['points']:.2f} | | |")  # fmt: skip
    print(f"\nsweep vs {points} backtests: {one * points / sweep:.0f}x faster")
    stats = runs["sweep"][1]["overfitting"]
    print(f"{stats['dsr_text']}\n{stats['pbo_text']}")


if __name__ == "__main__":
    main()
