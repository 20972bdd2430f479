"""How a backtest's wall time and memory scale with the number of symbols and the length of the window.

A plain script, not a test: it times ``trading-pipeline backtest --json`` (one Dagster run over the range)
on the S&P 500 daily panel for every cell of a grid of symbols x years, and prints a markdown table.

    .venv/bin/python benchmarks/backtest_scaling.py                          # full grid: 5,50,500 x 1,5 years
    .venv/bin/python benchmarks/backtest_scaling.py --symbols 5,50 --years 1 # quick
    .venv/bin/python benchmarks/backtest_scaling.py --symbols 50 --years 1 \\
        --env DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1               # compare an instance setting

How it measures:

* The CSV is parsed ONCE, with the project's own loader (timed and reported separately), and each cell gets
  a Parquet file of its own symbols in a temporary directory, read through ``--data``. Nothing is written to
  the repository.
* Each cell is one child process ``python -m trading_pipeline.cli backtest ... --json`` with its own fresh
  DAGSTER_HOME (the CLI writes the project's dagster.yaml into it), so cells share no runs, event logs or journal. ``wall_s`` is
  time.perf_counter around the child (interpreter start, imports and the run); ``run_s`` is the child's
  own ``runtime_s`` (the run only, after imports). ``peak_MB`` is the child's max RSS from os.wait4, i.e. the
  rusage of that one child (and any descendants it reaped), not a maximum over earlier cells.
* Symbols: the first N in alphabetical order among those with a bar in the window (some list later).
* Windows end on the last session of the file and start N years earlier (never before its first session).
  The 5-year window of the 2013-02-08..2018-02-07 panel starts with the data, so it has no warm-up history
  before it: its first ~200 sessions trade only what short history allows (see make_windows).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "daily_sp500_2013-2018.csv.gz"
DEFAULT_SYMBOLS = (5, 50, 500)
DEFAULT_YEARS = (1, 5)


@dataclass(frozen=True)
class Window:
    years: int  # as asked on the command line
    start: pd.Timestamp
    end: pd.Timestamp
    sessions: int
    clipped: bool  # the data starts later than the window asked for

    @property
    def label(self) -> str:
        span = (self.end - self.start).days / 365.25
        note = f", asked {self.years}y" if self.clipped else ""
        return f"{self.start.date()}..{self.end.date()} ({span:.1f}y{note})"


@dataclass
class Cell:
    n_asked: int
    window: Window
    symbols: list[str]
    bars: int
    data: Path
    wall_s: float | None = None
    run_s: float | None = None
    peak_mb: float | None = None
    fills: int | None = None
    error: str | None = None
    metrics: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.wall_s is not None


def _int_list(text: str) -> list[int]:
    values = sorted({int(v) for v in text.split(",") if v.strip()})
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return values


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"bars CSV/Parquet (default: {DEFAULT_DATA})")
    parser.add_argument("--symbols", type=_int_list, default=list(DEFAULT_SYMBOLS), help="symbol counts (5,50,500)")
    parser.add_argument("--years", type=_int_list, default=list(DEFAULT_YEARS), help="window lengths in years (1,5)")
    parser.add_argument(
        "--env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment variable for the backtest processes (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds before a cell is killed (3600)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (Parquet, DAGSTER_HOMEs)")
    return parser.parse_args(argv)


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _read_lines("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor() or "?",
    )
    mem = next((line.split()[1] for line in _read_lines("/proc/meminfo") if line.startswith("MemTotal")), None)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        from importlib.metadata import version

        dagster = version("dagster")
    except Exception:
        dagster = "?"
    parts = [
        f"nproc {usable} (cpu_count {os.cpu_count()})",
        cpu,
        f"RAM {int(mem) / 2**20:.1f} GiB" if mem else None,
        f"Python {platform.python_version()} ({sys.executable})",
        f"dagster {dagster}",
        f"{platform.system()} {platform.release()}",
        f"load average {_loadavg()}",
    ]
    return " | ".join(p for p in parts if p)


def _loadavg() -> str:
    """The 1-minute load average: other processes on a small machine skew the timings, this shows when."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def make_windows(dates: pd.DatetimeIndex, years: list[int]) -> list[Window]:
    """Windows ending on the last session of the data and starting ``years`` earlier, never before its first.

    A window starting with the data has no warm-up history before it: its first ~200 sessions trade only
    what the strategies allow with short history (MeanReversion needs 30 bars, TrendFollowing 200), as any
    backtest from the start of its data would. Later windows read their warm-up from the data before them.
    """
    from trading_pipeline.domain import calendar

    first, last = dates.min(), dates.max()
    end = last if calendar.is_session(last) else calendar.previous_session(last)
    earliest = first if calendar.is_session(first) else calendar.next_session(first)
    windows = []
    for y in years:
        wanted = end - pd.DateOffset(years=y)
        wanted = wanted if calendar.is_session(wanted) else calendar.next_session(wanted)
        start = max(wanted, earliest)
        windows.append(Window(y, start, end, len(calendar.sessions(start, end)), clipped=start > wanted))
    return windows


def convert(data: Path) -> tuple[pd.DataFrame, float]:
    """Parse the bars file once with the project's loader."""
    from trading_pipeline.domain.bars import load_bars_file

    began = time.perf_counter()
    bars = load_bars_file(data)
    return bars, time.perf_counter() - began


def plan(bars: pd.DataFrame, counts: list[int], windows: list[Window], tmp: Path) -> list[Cell]:
    """One cell per (count, window), each with a Parquet file of its own symbols (every date of the file, so
    the look-backs see the same history): a 5-symbol backtest does not parse the other 500 symbols' bars."""
    cells = []
    for w in windows:
        in_window = bars[(bars["date"] >= w.start) & (bars["date"] <= w.end)]
        listed = sorted(in_window["symbol"].unique())
        for n in counts:
            chosen = listed[:n]
            if len(chosen) < n:
                print(f"note: only {len(chosen)} symbols trade in {w.label} (asked {n})", file=sys.stderr)
            n_bars = int(in_window["symbol"].isin(chosen).sum())
            data = tmp / f"bars-{n}-{w.years}y.parquet"
            bars[bars["symbol"].isin(chosen)].to_parquet(data, index=False)
            cells.append(Cell(n, w, chosen, n_bars, data))
    return sorted(cells, key=lambda c: (c.bars, c.n_asked, c.window.years))  # smallest first


def run_cell(cell: Cell, tmp: Path, extra_env: dict[str, str], timeout: float) -> None:
    n, y = len(cell.symbols), cell.window.years
    home = tmp / f"home-{n}-{y}"
    home.mkdir()  # the CLI gives a new home the project's dagster.yaml
    env = {**os.environ, **extra_env, "DAGSTER_HOME": str(home)}
    cmd = [
        sys.executable, "-m", "trading_pipeline.cli", "backtest",
        "--start", str(cell.window.start.date()), "--end", str(cell.window.end.date()),
        "--symbols", ",".join(cell.symbols), "--data", str(cell.data),
        "--book", f"bench-{n}-{y}", "--json",
    ]  # fmt: skip
    out_path, err_path = home / "stdout.txt", home / "stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        began = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=home, env=env)
        status, usage = _wait(proc, timeout)
        cell.wall_s = time.perf_counter() - began
    cell.peak_mb = usage.ru_maxrss / 1024 if usage else None  # Linux reports KiB
    code = os.waitstatus_to_exitcode(status) if status is not None else None
    stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    metrics = next((m for m in map(_json_or_none, reversed(stdout.splitlines())) if m is not None), None)
    if code != 0 or metrics is None:
        why = "timed out" if code is None else f"exit code {code}" if code != 0 else "no JSON line on stdout"
        tail = "\n".join((stderr + stdout).strip().splitlines()[-25:])
        cell.error = f"{why}\n{tail}"
        return
    cell.metrics = metrics
    cell.fills = metrics.get("n_fills")
    cell.run_s = metrics.get("runtime_s")


def _wait(proc: subprocess.Popen, timeout: float):
    """os.wait4 on this one child: its exit status and its own rusage (max RSS of this child only)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
            return status, usage
        if time.monotonic() > deadline:
            proc.kill()
            _, _, usage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            return None, usage
        time.sleep(0.05)


def _json_or_none(line: str) -> dict | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _f(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def report(cells: list[Cell]) -> list[str]:
    lines = [
        "| symbols | window | sessions | bars | wall_s | run_s | peak_MB | bars_per_s | fills | s/session |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    order = sorted(cells, key=lambda c: (c.window.years, c.n_asked))
    for c in order:
        ok = c.ok
        lines.append(
            f"| {len(c.symbols)} | {c.window.label} | {c.window.sessions} | {c.bars:,} "
            f"| {_f(c.wall_s, '.2f')}{'' if ok else ' FAILED'} | {_f(c.run_s, '.2f')} | {_f(c.peak_mb, '.0f')} "
            f"| {_f(c.bars / c.wall_s if ok and c.wall_s else None, ',.0f')} "
            f"| {'—' if c.fills is None else f'{c.fills:,}'} "
            f"| {_f(c.wall_s / c.window.sessions if ok else None, '.4f')} |"
        )

    by_key = {(c.n_asked, c.window.years): c for c in cells if c.ok}
    counts = sorted({c.n_asked for c in cells})
    years = sorted({c.window.years for c in cells})
    ratios = []
    for y in years:
        for small, big in pairwise(counts):
            a, b = by_key.get((small, y)), by_key.get((big, y))
            if a and b:
                ratios.append(_ratio(f"{len(b.symbols)}/{len(a.symbols)} symbols, {y}y window", a, b))
    for n in counts:
        for short, long in pairwise(years):
            a, b = by_key.get((n, short)), by_key.get((n, long))
            if a and b:
                ratios.append(_ratio(f"{long}y/{short}y window, {len(a.symbols)} symbols", a, b))
    if ratios:
        lines += [
            "",
            "| ratio | wall_s | run_s | sessions | bars |",
            "|---|---:|---:|---:|---:|",
            *ratios,
        ]
    return lines


def _ratio(name: str, a: Cell, b: Cell) -> str:
    run = f"{b.run_s / a.run_s:.2f}x" if a.run_s and b.run_s else "—"
    return (
        f"| {name} | {b.wall_s / a.wall_s:.2f}x | {run} | {b.window.sessions / a.window.sessions:.2f}x "
        f"| {b.bars / a.bars:.2f}x |"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.exists():
        print(f"backtest_scaling: no data file {args.data} (pass --data)", file=sys.stderr)
        return 2
    extra_env = dict(args.env)
    tmp = Path(tempfile.mkdtemp(prefix="backtest-scaling-"))
    try:
        print(f"machine: {machine()}")
        print(f"data: {args.data}")
        if extra_env:
            print("child env: " + " ".join(f"{k}={v}" for k, v in extra_env.items()))
        bars, convert_s = convert(args.data)
        print(
            f"parsing (load_bars_file, once): {convert_s:.2f}s, {len(bars):,} bars, "
            f"{bars['symbol'].nunique()} symbols, {bars['date'].min().date()}..{bars['date'].max().date()}"
        )
        cells = plan(bars, args.symbols, make_windows(pd.DatetimeIndex(bars["date"].unique()), args.years), tmp)
        del bars
        for cell in cells:
            print(
                f"running {len(cell.symbols)} symbols x {cell.window.label}: {cell.bars:,} bars ...",
                end="", flush=True,
            )  # fmt: skip
            run_cell(cell, tmp, extra_env, args.timeout)
            print(f" {cell.wall_s:.1f}s" if cell.ok else " FAILED", f"(load average {_loadavg()})", flush=True)
            if not cell.ok:
                print(f"  {cell.error}".replace("\n", "\n  "), file=sys.stderr, flush=True)
        print()
        print("\n".join(report(cells)))
        print()
        print(
            "wall_s: whole child process (start-up, imports, run); run_s: the run itself (the CLI's runtime_s); "
            "peak_MB: max RSS of that child (os.wait4); s/session: wall_s / sessions."
        )
        failed = [c for c in cells if not c.ok]
        if failed:
            print(f"{len(failed)} cell(s) failed", file=sys.stderr)
            return 1
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
