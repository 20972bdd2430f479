"""What Dagster alone costs a backtest: the daily cycle's shape with no work in it.

A backtest materializes every session-partitioned asset once per session (that is what makes each session
of a backfill visible and re-runnable in the UI). This script times chains of N no-op assets on the
project's session partitions and instance (batched SQLite event log, as the CLI uses), over 1 and 5 years
of sessions, in a child process each, so that the backtest figures of ``backtest_scaling.py`` can be read
against the part no trading code can remove. The daily cycle has 11 session-partitioned assets and 11
partitioned checks; a backtest adds one equity observation per session.

    .venv/bin/python benchmarks/dagster_floor.py                 # 1, 5, 11 assets x 1 and 5 years
    .venv/bin/python benchmarks/dagster_floor.py --assets 11 --years 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

WINDOWS = {1: ("2017-02-08", "2018-02-07"), 5: ("2013-02-08", "2018-02-07")}

CHILD = """
import json, sys, time
from pathlib import Path
from dagster import DagsterInstance, MaterializeResult, asset, materialize
from trading_pipeline.defs.partitions import sessions_partitions, single_run
from trading_pipeline.instance import write_instance_config

n, start, end, home = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
chain = []
for i in range(n):
    @asset(name=f"step_{i}", partitions_def=sessions_partitions, backfill_policy=single_run, deps=chain[-1:])
    def step(context):
        return MaterializeResult(metadata={"rows": 0})
    chain.append(step)
instance = DagsterInstance.from_config(str(write_instance_config(Path(home)).parent))
began = time.perf_counter()
result = materialize(chain, instance=instance, tags={
    "dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end})
print(json.dumps({"ok": result.success, "run_s": time.perf_counter() - began}))
"""


def run(n_assets: int, years: int) -> dict:
    start, end = WINDOWS[years]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DAGSTER_HOME": home, "DAGSTER_EVENT_BATCH_SIZE": "10000",
               "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1", "PYTHONWARNINGS": "ignore"}  # fmt: skip
        began = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(n_assets), start, end, home],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        wall = time.perf_counter() - began
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not result["ok"]:
        raise RuntimeError(f"the no-op run of {n_assets} assets failed:\n{out.stderr[-2000:]}")
    return {"assets": n_assets, "years": years, "wall_s": wall, "run_s": result["run_s"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", default="1,5,11", help="chain lengths (1,5,11)")
    parser.add_argument("--years", default="1,5", help="window lengths in years: 1 and/or 5")
    args = parser.parse_args(argv)
    from trading_pipeline.domain import calendar

    print("| assets | window | sessions | materializations | wall_s | run_s | ms per materialization |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for years in (int(y) for y in args.years.split(",")):
        sessions = len(calendar.sessions(*WINDOWS[years]))
        for n in (int(a) for a in args.assets.split(",")):
            cell = run(n, years)
            events = n * sessions
            print(
                f"| {n} | {years}y | {sessions} | {events:,} | {cell['wall_s']:.2f} | {cell['run_s']:.2f} "
                f"| {1000 * cell['run_s'] / events:.3f} |",
                flush=True,
            )
    print("\nwall_s: the child process (imports, instance, run); run_s: materialize() alone.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
