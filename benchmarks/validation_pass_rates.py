"""How many entry signals survive the quant validation, per threshold set, on real data.

Runs the deterministic chain (indicators → context → selection → signals → validation) over the bundled
5 stocks (2000-2013) and, when ../shared/data is beside the repository, the S&P 500 panel (2013-2018),
and prints the share of BUY signals whose validated confidence still reaches the sizing minimum (0.3),
for the seed system's hard limits and for the project's defaults. The README's "Quant validation"
section quotes its output.

    .venv/bin/python benchmarks/validation_pass_rates.py
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from trading_pipeline.data import SAMPLE_BARS, SAMPLE_REAL_MOVES
from trading_pipeline.domain.bars import load_bars_file, validate_bars
from trading_pipeline.domain.context import market_context
from trading_pipeline.domain.indicators import compute_indicators
from trading_pipeline.domain.risk.limits import RiskLimits
from trading_pipeline.domain.selection import select_strategies
from trading_pipeline.domain.strategies import REGISTRY
from trading_pipeline.domain.validation import ValidationThresholds, signals_with_track_record, validate_signals

SP500 = Path(__file__).resolve().parents[2] / "shared" / "data" / "daily_sp500_2013-2018.csv.gz"
DEFAULTS = ValidationThresholds()
THRESHOLD_SETS = {
    # The seed system: Sharpe > 1.5 and drawdown < 8% as hard limits, a losing record rejected.
    "seed (hard limits)": replace(
        DEFAULTS, expectancy_scale=0.0, negative_sharpe_scale=0.0, sharpe_scale=0.0, drawdown_scale=0.0
    ),
    "defaults": DEFAULTS,
    "defaults, drawdown 25%": replace(DEFAULTS, max_drawdown=0.25),
    "no track-record checks": replace(
        DEFAULTS, expectancy_scale=1.0, negative_sharpe_scale=1.0, sharpe_scale=1.0, drawdown_scale=1.0
    ),
}


def study(name: str, bars: pd.DataFrame, accepted_moves: frozenset = frozenset()) -> None:
    started = time.perf_counter()
    indicators = compute_indicators(validate_bars(bars, accepted_moves=accepted_moves))
    context = market_context(indicators)
    selection = select_strategies(context, list(REGISTRY))
    signals = signals_with_track_record(indicators, selection)
    buys = signals["action"] == "BUY"
    print(
        f"\n{name}: {indicators['symbol'].nunique()} symbols, {len(indicators):,} bars, {int(buys.sum()):,} BUY signals"
    )
    minimum = RiskLimits().min_confidence
    rows = []
    per_strategy = {}
    for label, thresholds in THRESHOLD_SETS.items():
        out = validate_signals(signals, context, thresholds)
        entries = out[out["action"] == "BUY"]
        passed = entries["confidence"] >= minimum
        rows.append(
            {
                "thresholds": label,
                "pass rate": f"{passed.mean():.1%}",
                "mean confidence kept": f"{(entries['confidence'] / entries['raw_confidence']).mean():.2f}",
            }
        )
        per_strategy[label] = passed.groupby(entries["strategy"]).mean()
    print(pd.DataFrame(rows).to_markdown(index=False))
    print("\npass rate per strategy:")
    print(pd.DataFrame(per_strategy).map(lambda v: f"{v:.0%}").to_markdown())
    print(f"({time.perf_counter() - started:.1f} s)")


def main() -> None:
    study("bundled 5 stocks 2000-2013", load_bars_file(SAMPLE_BARS), SAMPLE_REAL_MOVES)
    if SP500.exists():
        study("S&P 500 2013-2018", load_bars_file(SP500))
    else:
        print(f"\n{SP500} not found: S&P 500 study skipped")


if __name__ == "__main__":
    main()
