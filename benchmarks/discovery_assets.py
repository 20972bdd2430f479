"""What the universe and watchlist assets cost inside a single-run backfill of the S&P 500 panel (500 x 5 years).

Discovery off (the default), the universe lists the configured symbols per session; on, it fetches and validates
the candidates' bars, computes the features and the universe rules, and the watchlist runs the three pickers, the
ensemble, journals the watchlist and fills the forward returns. Each mode is one Dagster run over the whole panel
on a fresh temporary instance configured as the project's (batched event log); the figures are the steps' own durations as Dagster records them (the bars file is
parsed before, as the CLI's checks do). Nothing is written to the repository.

    .venv/bin/python benchmarks/discovery_assets.py [--data PANEL] [--symbols 500]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from dagster import DagsterEventType, instance_for_test, materialize

from trading_pipeline.dagster_internals.event_log import event_log_config
from trading_pipeline.definitions import DEFAULT_RESOURCES
from trading_pipeline.defs.discovery.universe import universe
from trading_pipeline.defs.discovery.watchlist import watchlist
from trading_pipeline.defs.resources.discovery import SymbolDiscovery
from trading_pipeline.defs.resources.market_data import ReplayMarketData, load_replay_bars
from trading_pipeline.domain.bars import load_bars_file
from trading_pipeline.instance import RUN_ENVIRONMENT

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "daily_sp500_2013-2018.csv.gz"


def _run(path: Path, start: str, end: str, enabled: bool) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as home,
        instance_for_test(temp_dir=home, overrides={"event_log_storage": event_log_config(Path(home))}) as instance,
    ):
        began = time.perf_counter()
        result = materialize(
            [universe, watchlist],
            instance=instance,
            resources={
                **DEFAULT_RESOURCES,
                "market_data": ReplayMarketData(path=str(path)),
                "discovery": SymbolDiscovery(enabled=enabled),
            },
            tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
        )
        wall = time.perf_counter() - began
        steps = {
            event.step_key: event.event_specific_data.duration_ms / 1000
            for event in result.all_events
            if event.event_type == DagsterEventType.STEP_SUCCESS
        }
    return {**steps, "run wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--symbols", type=int, default=500, help="the first N symbols alphabetically")
    args = parser.parse_args()
    os.environ.update(RUN_ENVIRONMENT)  # the project's run settings, as the CLI and the tests set them
    bars = load_bars_file(args.data)
    kept = sorted(bars["symbol"].unique())[: args.symbols]
    bars = bars[bars["symbol"].isin(kept)].reset_index(drop=True)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "panel.parquet"
        bars.to_parquet(path)
        load_replay_bars(str(path.resolve()))  # parsed before the run, as the CLI's checks do
        start, end = bars["date"].min().date().isoformat(), bars["date"].max().date().isoformat()
        print(f"{args.data.name}: {len(kept)} symbols, {start}..{end}, {len(bars):,} bars")
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
        rows = {mode: _run(path, start, end, mode == "on") for mode in ("off", "on")}
    print("| discovery | universe s | watchlist s | run wall s |\n|---|---:|---:|---:|")
    for mode, figures in rows.items():
        print(f"| {mode} | {figures['universe']:.2f} | {figures['watchlist']:.2f} | {figures['run wall']:.2f} |")


if __name__ == "__main__":
    main()
