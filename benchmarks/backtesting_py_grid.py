"""backtesting.py's own optimizer on the sweep benchmark's bars: its bare SMA cross (the library's canonical
example strategy), a grid of as many points as the sweep's, ``Backtest.optimize`` per symbol (it has no portfolio:
one instrument per Backtest). Run by ``sweep_speed.py``; prints one JSON line.

    .venv/bin/python benchmarks/backtesting_py_grid.py BARS.parquet --start 2013-02-08 --end 2018-02-07 \\
        --symbols 50 --points 100
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bars, one per run

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import SMA


class SmaCross(Strategy):
    n1 = 10
    n2 = 50

    def init(self) -> None:
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self) -> None:
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--symbols", type=int, default=50, help="the first N symbols alphabetically")
    parser.add_argument("--points", type=int, default=100, help="a square grid: sqrt(points) values each")
    args = parser.parse_args()
    bars = pd.read_parquet(args.data)
    window = bars[(bars["date"] >= args.start) & (bars["date"] <= args.end)]
    symbols = sorted(window["symbol"].unique())[: args.symbols]
    side = math.isqrt(args.points)
    fast = [int(v) for v in np.linspace(5, 50, side).round()]
    slow = [int(v) for v in np.linspace(60, 240, side).round()]
    warnings.simplefilter("ignore")  # backtesting.py warns per run about prices above the cash, and such
    sharpes = []
    began = time.perf_counter()
    for symbol in symbols:
        frame = window[window["symbol"] == symbol].set_index("date")[["open", "high", "low", "close", "volume"]]
        frame.columns = ["Open", "High", "Low", "Close", "Volume"]
        test = Backtest(frame, SmaCross, cash=1_000_000, commission=0.0005, finalize_trades=True)
        stats = test.optimize(n1=fast, n2=slow, maximize="Sharpe Ratio")
        sharpes.append(float(stats["Sharpe Ratio"]))
    seconds = time.perf_counter() - began
    print(
        json.dumps(
            {
                "symbols": len(symbols),
                "points": len(fast) * len(slow),
                "seconds": seconds,
                "median_best_sharpe": float(np.nanmedian(sharpes)),
            }
        )
    )


if __name__ == "__main__":
    main()
