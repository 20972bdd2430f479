"""Walk-forward parameter selection: split a date range into consecutive train/test windows and pick, on each
train window, the parameter value whose backtest had the best Sharpe ratio, to be judged out of sample on the
test window that follows. Pure logic: ``research.sweep.walk_forward`` runs the books."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd


@dataclass(frozen=True)
class Window:
    """One step of the walk: parameters are chosen on [train_start, train_end], judged on [test_start, test_end]
    (all inclusive; the test window starts the day after the train window ends)."""

    train_start: date
    train_end: date
    test_start: date
    test_end: date


def windows(start: date, end: date, train_months: int, test_months: int) -> list[Window]:
    """Consecutive windows rolled forward by ``test_months``, so the test windows tile the range after the
    first train window without overlap; a last test window that would end after ``end`` is dropped."""
    if train_months < 1 or test_months < 1:
        raise ValueError(f"train and test months must be at least 1, got {train_months} and {test_months}")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    out: list[Window] = []
    first = pd.Timestamp(start)
    while True:
        train_start = first + pd.DateOffset(months=len(out) * test_months)
        test_start = train_start + pd.DateOffset(months=train_months)
        test_end = test_start + pd.DateOffset(months=test_months) - timedelta(days=1)
        if test_end.date() > end:
            break
        out.append(
            Window(train_start.date(), (test_start - timedelta(days=1)).date(), test_start.date(), test_end.date())
        )
    if not out:
        raise ValueError(
            f"{start}..{end} is shorter than one train window of {train_months} month(s) "
            f"plus one test window of {test_months} month(s)"
        )
    return out


def best_by_sharpe[T](sharpes: Sequence[tuple[T, float | None]]) -> T:
    """The value with the highest Sharpe; ties go to the earlier value. A missing Sharpe (None or NaN: no
    variance, e.g. no trade) ranks below any number; when no value has one, the first value is kept."""
    if not sharpes:
        raise ValueError("no parameter values to choose from")

    def rank(item: tuple[int, tuple[T, float | None]]) -> tuple[float, int]:
        index, (_, sharpe) = item
        missing = sharpe is None or not math.isfinite(sharpe)
        return (-math.inf if missing else sharpe, -index)

    return max(enumerate(sharpes), key=rank)[1][0]
