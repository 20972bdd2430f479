"""RelativeStrength: trade a symbol's trend crossing that of a benchmark (SPY by default)."""

from __future__ import annotations

import pandas as pd

from trading_pipeline.domain.schema import StrategyName
from trading_pipeline.domain.strategies.base import (
    Strategy,
    atr_signals,
    confidence_ramp,
    join,
    number_text,
    reasons,
    text_table,
)

DEFAULT_BENCHMARK = "SPY"
# |ratio - 1| at which a cross gets full confidence.
FULL_CONFIDENCE_GAP = 0.05


class RelativeStrength(Strategy):
    """ratio = (close/sma50 of the symbol) / (close/sma50 of the benchmark), same date. BUY on the bar
    the ratio crosses above 1, SELL on the bar it crosses below 1.

    A cross is strict: BUY on bar t iff ``ratio[t-1] <= 1`` and ``ratio[t] > 1`` (SELL mirrored), t-1
    being the symbol's previous clean bar, so a ratio of exactly 1 is never a signal (hence the benchmark
    itself never signals). On a date without a benchmark row every symbol HOLDs with "benchmark SPY not
    in the universe" — in particular every row when the benchmark is absent from the panel; no
    exception. Confidence grows with |ratio - 1| (0 → 0.3, ``FULL_CONFIDENCE_GAP`` → 1).
    """

    name = StrategyName.RELATIVE_STRENGTH
    min_history = 50

    def __init__(self, benchmark: str = DEFAULT_BENCHMARK) -> None:
        self.benchmark = benchmark

    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        strength = panel["close"] / panel["sma50"]
        is_benchmark = panel["symbol"] == self.benchmark
        benchmark_strength = panel["date"].map(
            pd.Series(strength[is_benchmark].to_numpy(), index=panel.loc[is_benchmark, "date"].to_numpy())
        )
        listed = panel["date"].isin(panel.loc[is_benchmark, "date"])
        ratio = strength / benchmark_strength
        prev = ratio.groupby(panel["symbol"], sort=False).shift(1)
        buy = (prev <= 1) & (ratio > 1)
        sell = (prev >= 1) & (ratio < 1)

        up, values = buy.to_numpy(), ratio.to_numpy(dtype="float64")
        # A signal row is never the benchmark's (its ratio is exactly 1) nor unlisted (its ratio is NaN).
        reason = reasons(
            panel.index,
            f"no cross of 1 by the strength ratio to {self.benchmark}",
            [
                (ratio.isna(), f"close/sma50 undefined for the symbol or {self.benchmark}"),
                (
                    buy | sell,
                    lambda rows: join(
                        f"close/sma50 relative to {self.benchmark} crossed ",
                        text_table(["below", "above"]).take(up[rows].astype("int64")),
                        " 1 (ratio ",
                        number_text(values[rows], 4),
                        ")",
                    ),
                ),
                (is_benchmark, f"the benchmark {self.benchmark} itself"),
                (~listed, f"benchmark {self.benchmark} not in the universe"),
            ],
        )
        return atr_signals(panel, buy, sell, confidence_ramp((ratio - 1).abs(), FULL_CONFIDENCE_GAP), reason)
