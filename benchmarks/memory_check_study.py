"""Does the memory check improve out-of-sample results? The walk-forward study on the S&P 500 panel.

Runs the deterministic chain (indicators → context → selection → signals with track records → validation)
over the S&P 500 panel (2013-2018; today's constituents, so survivorship-biased: every stock here survived to
2018), builds the memory of setups, and judges every validated BUY with the memory as it stood on its session
(``memory_study``: a query as of D sees only outcomes known by D). Prints, per year, the 10-session forward
return of the BUYs the check keeps and of those it flags, and of the BUYs that reach the sizing minimum
without and with the check. The README's "Memory of setups" section quotes its output.

    .venv/bin/python benchmarks/memory_check_study.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from trading_pipeline.domain.bars import load_bars_file, validate_bars
from trading_pipeline.domain.context import market_context
from trading_pipeline.domain.indicators import compute_indicators
from trading_pipeline.domain.memory.check import DEFAULT_CHECK
from trading_pipeline.domain.memory.outcomes import setup_outcomes
from trading_pipeline.domain.memory.study import memory_study
from trading_pipeline.domain.memory.vectors import setup_vectors
from trading_pipeline.domain.selection import select_strategies
from trading_pipeline.domain.strategies import REGISTRY
from trading_pipeline.domain.validation import signals_with_track_record, validate_signals

SP500 = Path(__file__).resolve().parents[2] / "shared" / "data" / "daily_sp500_2013-2018.csv.gz"
PERCENT = ["kept mean", "kept excess", "kept hit", "flagged mean", "flagged excess", "flagged hit"]
PERCENT += ["traded mean, no check", "traded mean, check"]


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; check: {DEFAULT_CHECK}")
    started = time.perf_counter()
    indicators = compute_indicators(validate_bars(load_bars_file(SP500)))
    context = market_context(indicators)
    signals = validate_signals(
        signals_with_track_record(indicators, select_strategies(context, list(REGISTRY))), context
    )
    vectors, outcomes = setup_vectors(indicators, context), setup_outcomes(indicators)
    chain = time.perf_counter() - started
    table = memory_study(signals, vectors, outcomes)
    study = time.perf_counter() - started - chain
    shown = table.copy()
    for column in ("buys", "judged", "flagged"):
        shown[column] = table[column].map(lambda n: f"{int(n):,}")
    for column in PERCENT:
        spec = "{:.1%}" if "hit" in column else "{:+.2%}"
        shown[column] = table[column].map(spec.format)
    print(shown.to_markdown())
    print(f"(chain {chain:.0f} s, study {study:.0f} s)")


if __name__ == "__main__":
    main()
