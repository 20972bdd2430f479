"""How long symbol discovery adds to a backfill, and how each picker did, on the S&P 500 panel.

Times the whole discovery chain over every session of the panel in one pass (features → universe → metric,
fuzzy and offline LLM pickers → ensemble watchlist), then the scoring of every suggestion (forward returns
over 1, 5 and 20 sessions against the equal-weight universe), best of ``--repeat`` runs each; loading and
validating the bars is not counted (the backfill has them already). Then prints the per-picker table of
``picker_report`` for the README. The panel lists the S&P 500 members of early 2018: survivorship-biased, so
every hit rate in it is measured on companies known to have survived.

    .venv/bin/python benchmarks/discovery_speed.py
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from trading_pipeline.domain.bars import load_bars_file, validate_bars
from trading_pipeline.domain.discovery.chain import discover
from trading_pipeline.domain.discovery.scoring import forward_returns, picker_summary

SP500 = Path(__file__).resolve().parents[2] / "shared" / "data" / "daily_sp500_2013-2018.csv.gz"


def best_of[T](repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    """The shortest of ``repeat`` runs (the least disturbed by the other users of a shared machine)."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - started)
    return min(timings), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SP500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    bars = validate_bars(load_bars_file(args.data))
    sessions = bars["date"].nunique()
    print(f"{args.data.name}: {bars['symbol'].nunique()} symbols x {sessions:,} sessions, {len(bars):,} bars")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    chain_s, found = best_of(args.repeat, lambda: discover(bars))
    suggestions = found.suggestions()
    scoring_s, scored = best_of(args.repeat, lambda: forward_returns(suggestions, bars, found.universe))
    summary = picker_summary(scored)
    print(f"discovery chain: {chain_s:.2f} s; scoring {len(suggestions):,} suggestions: {scoring_s:.2f} s")
    print(f"total: {chain_s + scoring_s:.2f} s (target < 2 s)")
    eligible = found.universe.groupby("date")["eligible"].sum()
    print(
        f"universe: {eligible.median():.0f} eligible symbols per session (median); watchlist: "
        f"{len(found.watchlist):,} rows, {found.watchlist['divergent'].mean():.0%} divergent"
    )
    print("\nPer picker (survivorship-biased panel: the members of early 2018 only):\n")
    table = summary.assign(
        hit_rate=summary["hit_rate"].map("{:.1%}".format),
        mean_excess=summary["mean_excess"].map("{:+.2%}".format),
        per_session=(summary["suggestions"] / found.watchlist["date"].nunique()).map("{:.0f}".format),
    )
    print(
        pd.DataFrame(table)[["picker", "horizon", "per_session", "scored", "hit_rate", "mean_excess"]].to_markdown(
            index=False
        )
    )


if __name__ == "__main__":
    main()
