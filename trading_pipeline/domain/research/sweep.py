"""Parameter sweeps: many books over one set of decisions.

A backtest spends most of its time deciding (bars → indicators → context → strategy → validated signals), and
none of that depends on the book's parameters: the risk limits, the exits, the minimum confidence and the costs
only change how those signals are sized and filled. So a sweep decides once (once per pinned strategy, the only
book parameter that changes the decisions) and runs only the book per point: the sizing loop of
``engine.run_sessions`` with the simulator, exactly as the ``sized_orders`` step runs it for a backfill of a fresh
book, in worker processes that inherit the decisions by fork instead of receiving a copy each.

Walk-forward is a sweep too: its windows are sub-ranges of the same decisions (every decision is point-in-time),
so each window's grid costs only book runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from trading_pipeline.domain.bars import quarantine_share
from trading_pipeline.domain.book import BookState, RiskEvent, fills_to_frame, orders_to_frame
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.engine import PricePanels, equity_curve, run_sessions, sizing_decider
from trading_pipeline.domain.metrics import performance_metrics
from trading_pipeline.domain.research.overfitting import (
    deflated_sharpe,
    deflated_sharpe_from_moments,
    probability_of_backtest_overfitting,
)
from trading_pipeline.domain.risk.limits import RiskLimits
from trading_pipeline.domain.sectors import load_sector_map
from trading_pipeline.domain.walk_forward import Window, best_by_sharpe

PIN = "strategy"
SELECTOR = "selector"  # strategy=selector: the run's own selection (the regime policy, or an LLM), not a pin
BOOK_SETTINGS: dict[str, type] = {"initial_capital": float, "max_quarantined_share": float}
COST_SETTINGS: dict[str, type] = dict.fromkeys(CostModel.model_fields, float)
DEFAULT_CAPITAL, DEFAULT_QUARANTINED_SHARE = 100_000.0, 0.20
PBO_BLOCKS = 16


def _limit_type(name: str) -> type:
    """The value type of a RiskLimits field (``float | None`` → float; the literal trailing_stop → str)."""
    annotation = RiskLimits.model_fields[name].annotation
    for kind in (int, float):
        if annotation is kind or annotation == kind | None:
            return kind
    return str


def sweepable() -> dict[str, type]:
    """What a grid may vary, with each value's type: the strategy pin, every risk limit and exit, the costs and the
    book's capital and data-quality share."""
    return {
        PIN: str,
        **{name: _limit_type(name) for name in RiskLimits.model_fields},
        **COST_SETTINGS,
        **BOOK_SETTINGS,
    }


def parse_grid(specs: Iterable[str]) -> dict[str, list]:
    """``NAME=V1,V2`` specs as {name: typed values}; names known and given once, values distinct."""
    kinds = sweepable()
    grid: dict[str, list] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--grid must look like NAME=V1,V2 (e.g. risk_per_trade=0.01,0.02), got {spec!r}")
        if name not in kinds:
            raise ValueError(f"cannot sweep {name!r}; sweepable: {', '.join(kinds)}")
        if name in grid:
            raise ValueError(f"--grid {name} is given twice")
        raw = [v.strip() for v in values.split(",") if v.strip()]
        if not raw:
            raise ValueError(f"--grid {name}: no values given")
        try:
            typed = [kinds[name](v) for v in raw]
        except ValueError:
            raise ValueError(f"--grid {name}: values must be of type {kinds[name].__name__}, got {raw}") from None
        if len(set(typed)) != len(typed):
            raise ValueError(f"--grid {name}: values repeat: {raw}")
        grid[name] = typed
    return grid


@dataclass(frozen=True)
class BookPoint:
    """One point of a grid: the ``settings`` it varies (``strategy``: the pin; ``selector`` or absent: the run's own
    selection) over the
    ``base`` configuration it shares with every other point (the run's limits, costs and capital; else defaults)."""

    settings: Mapping[str, Any] = field(default_factory=dict)
    base: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted((set(self.settings) | set(self.base)) - set(sweepable()))
        if unknown:
            raise ValueError(f"not sweepable: {unknown}")
        self.limits()  # cross-field rules of the limits, checked when the point is made, not in a worker
        self.costs()

    def _merged(self, names: Iterable[str]) -> dict[str, Any]:
        merged = {**self.base, **self.settings}
        return {k: merged[k] for k in names if k in merged}

    @property
    def pin(self) -> str | None:
        pin = self.settings.get(PIN)
        return None if pin == SELECTOR else pin

    def limits(self) -> RiskLimits:
        return RiskLimits(**self._merged(RiskLimits.model_fields))

    def costs(self) -> CostModel:
        return CostModel(**self._merged(COST_SETTINGS))

    @property
    def initial_capital(self) -> float:
        return float(self._merged(["initial_capital"]).get("initial_capital", DEFAULT_CAPITAL))

    @property
    def max_quarantined_share(self) -> float:
        return float(self._merged(["max_quarantined_share"]).get("max_quarantined_share", DEFAULT_QUARANTINED_SHARE))

    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.settings.items()) or "base"


def expand_grid(grid: Mapping[str, Sequence], base: Mapping[str, Any] | None = None) -> list[BookPoint]:
    """Every combination over ``base``, the last parameter varying fastest (the order of ``itertools.product``)."""
    names = list(grid)
    return [
        BookPoint(dict(zip(names, values, strict=True)), dict(base or {}))
        for values in itertools.product(*grid.values())
    ]


@dataclass(frozen=True, eq=False)
class Decisions:
    """What every book of a sweep reads: the sessions, the actionable validated signals with the close and ATR they
    are sized from, the tradable prices and the quarantined share of the universe per session."""

    sessions: tuple[date, ...]
    signals: pd.DataFrame
    prices: PricePanels
    quarantined: pd.Series

    @classmethod
    def from_assets(
        cls,
        sessions: Sequence[date],
        validated_signals: pd.DataFrame,
        indicators: pd.DataFrame,
        market_bars: pd.DataFrame,
    ) -> Decisions:
        """From the ``validated_signals``, ``indicators`` and ``market_bars`` tables of a range, as the
        ``sized_orders`` step reads them."""
        actionable = validated_signals[validated_signals["action"] != "HOLD"].merge(
            indicators[["date", "symbol", "close", "atr14"]], on=["date", "symbol"], how="left", validate="one_to_one"
        )
        return cls(
            tuple(sessions), actionable, PricePanels.from_bars(indicators, sessions), quarantine_share(market_bars)
        )


@dataclass(frozen=True, eq=False)
class PointResult:
    """One book of a sweep over one range: its fills, its end-of-session equity and the report's metrics."""

    point: BookPoint
    start: date
    end: date
    fills: pd.DataFrame
    equity: pd.Series
    metrics: dict

    @property
    def sharpe(self) -> float | None:
        return self.metrics.get("sharpe")

    def returns(self) -> pd.Series:
        return self.equity.pct_change().iloc[1:]


def run_point(
    decisions: Decisions, point: BookPoint, book: str, start: date | None = None, end: date | None = None
) -> PointResult:
    """A fresh book of ``point`` over the decisions' sessions from ``start`` to ``end``: the ``sized_orders`` step's
    loop (sessions with too much of the universe quarantined take no order) and the simulator's fills. No halt, and
    the default account with no other book, as for a backtest of a book of its own."""
    sessions = [d for d in decisions.sessions if (start is None or d >= start) and (end is None or d <= end)]
    if not sessions:
        raise ValueError(f"no session of the decisions between {start} and {end}")
    limits, costs = point.limits(), point.costs()
    decide = sizing_decider(decisions.signals, limits, costs, load_sector_map())
    share = decisions.quarantined
    bad_days = {d.date(): s for d, s in share[share > point.max_quarantined_share].items()}

    def decide_unless_bad_data(state: BookState, session: date) -> tuple[list, list[RiskEvent]]:
        return ([], []) if session in bad_days else decide(state, session)

    results = run_sessions(
        BookState.initial(book, point.initial_capital),
        sessions,
        decisions.prices,
        decide_unless_bad_data,
        costs,
        limits,
    )
    orders = orders_to_frame(o for r in results for o in r.orders)
    fills = fills_to_frame(f for r in results for f in r.fills)
    # As the report does: a fill is credited to the strategy of its order.
    fills["strategy"] = fills["client_order_id"].map(orders.set_index("client_order_id")["strategy"])
    curve = equity_curve(results)
    metrics = performance_metrics(curve, fills)
    metrics.update(n_orders=len(orders), n_fills=len(fills))
    return PointResult(point, sessions[0], sessions[-1], fills, curve, metrics)


@dataclass(frozen=True)
class Task:
    """A point to run over a range (None: all of the decisions' sessions)."""

    point: BookPoint
    start: date | None = None
    end: date | None = None


_SHARED: dict[str | None, Decisions] = {}  # what forked workers inherit: decisions by pin


def _run_task(args: tuple[str | None, Task, str]) -> PointResult:
    pin, task, book = args
    return run_point(_SHARED[pin], task.point, book, task.start, task.end)


def run_tasks(
    decisions_for: Callable[[str | None], Decisions],
    tasks: Sequence[Task],
    book: str,
    workers: int | None = None,
) -> list[PointResult]:
    """Run ``tasks`` as books named ``book``, results in their order; the decisions of each pin are made once, in this process, before
    the workers are forked, so every worker reads them without a copy being sent. ``workers`` 1 runs here."""
    pins = list(dict.fromkeys(t.point.pin for t in tasks))
    workers = min(workers or os.cpu_count() or 1, len(tasks))
    _SHARED.clear()
    try:
        for pin in pins:
            _SHARED[pin] = decisions_for(pin)
        args = [(t.point.pin, t, book) for t in tasks]
        if workers <= 1:
            return [_run_task(a) for a in args]
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_run_task, args, chunksize=max(1, len(args) // (4 * workers))))
    finally:
        _SHARED.clear()


@dataclass(frozen=True)
class Overfitting:
    """The sweep's overfitting statistics: the Deflated Sharpe Ratio of its best point and the Probability of Backtest
    Overfitting of picking the best, each None with the reason when it cannot be computed."""

    best: int | None
    dsr: float | None
    dsr_text: str
    pbo: float | None
    pbo_text: str

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def best_point(results: Sequence[PointResult]) -> int | None:
    """The index of the best Sharpe; a point without one (no trade, flat equity) is never the best, and with none
    scored there is no best."""
    scored = [(i, r.sharpe) for i, r in enumerate(results) if _scored(r.sharpe)]
    return best_by_sharpe(scored) if scored else None


def _scored(sharpe: float | None) -> bool:
    return sharpe is not None and math.isfinite(sharpe)


def overfitting(results: Sequence[PointResult], n_blocks: int = PBO_BLOCKS) -> Overfitting:
    """DSR of the best point among all the points tried (every point is a trial; the Sharpes' variance is the scored
    points'), and PBO by CSCV of the points' daily returns over their common sessions (the oldest dropped so the
    blocks are equal)."""
    best = best_point(results)
    if best is None:
        return Overfitting(None, None, "n/a: no point has a Sharpe ratio", None, "n/a: no point has a Sharpe ratio")
    returns = returns_matrix(results)
    scored = [r.returns() for r in results if _scored(r.sharpe)]
    per_period = [float(s.mean() / s.std(ddof=1)) for s in scored]
    selected = deflated_sharpe(results[best].returns().to_numpy(), per_period)
    if len(results) > len(scored):  # the unscored points were tried too: they count in the number of trials
        selected = deflated_sharpe_from_moments(
            selected.sharpe, selected.n_obs, selected.skew, selected.kurtosis,
            n_trials=len(results), sharpe_variance=selected.sharpe_variance,
        )  # fmt: skip
    if len(results) < 2:
        return Overfitting(best, selected.dsr, selected.describe(), None, "n/a: one point, no selection")
    pbo, text = _pbo(returns, n_blocks)
    return Overfitting(best, selected.dsr, selected.describe(), pbo, text)


def _pbo(returns: np.ndarray, n_blocks: int) -> tuple[float | None, str]:
    """CSCV on the sessions from the first on which any point's equity moved (before it, no point had a position:
    nothing to judge), with the most blocks up to ``n_blocks`` whose every in-sample half has a point with a Sharpe
    (a book that trades rarely can be flat everywhere in a half of short blocks)."""
    moved = np.flatnonzero((returns != 0).any(axis=1))
    returns = returns[moved[0] :] if len(moved) else returns[:0]
    reason = f"{len(returns)} returns after the first trade, too few"
    for blocks in range(min(n_blocks, len(returns) // 2) // 2 * 2, 1, -2):
        try:
            verdict = probability_of_backtest_overfitting(returns[len(returns) % blocks :], blocks)
            return verdict.pbo, verdict.describe()
        except ValueError as exc:
            reason = str(exc)
    return None, f"n/a: {reason}"


@dataclass(frozen=True)
class WalkStep:
    """One window of a walk-forward: every point's train result, the point chosen (None: none scored) and its test."""

    window: Window
    train: list[PointResult]
    chosen: int | None
    test: PointResult | None
    overfitting: Overfitting


def walk_forward(
    decisions_for: Callable[[str | None], Decisions],
    points: Sequence[BookPoint],
    steps: Sequence[Window],
    book: str,
    workers: int | None = None,
) -> list[WalkStep]:
    """Each window's grid on its train range, then the best-scored point on the following test range (fresh
    capital). A window where no point scored has no test: nothing was chosen. The decisions cover every window and
    are made once per pin."""
    train_tasks = [Task(p, w.train_start, w.train_end) for w in steps for p in points]
    trained = run_tasks(decisions_for, train_tasks, book, workers)
    by_window = [trained[i * len(points) : (i + 1) * len(points)] for i in range(len(steps))]
    chosen = [best_point(results) for results in by_window]
    test_tasks = [
        Task(points[c], w.test_start, w.test_end) for w, c in zip(steps, chosen, strict=True) if c is not None
    ]
    tested = iter(run_tasks(decisions_for, test_tasks, book, workers) if test_tasks else [])
    return [
        WalkStep(w, results, c, None if c is None else next(tested), overfitting(results))
        for w, results, c in zip(steps, by_window, chosen, strict=True)
    ]


def results_table(results: Sequence[PointResult], columns: Sequence[str]) -> pd.DataFrame:
    """One row per point: its settings, then the metrics ``columns`` (None where undefined)."""
    names = list(dict.fromkeys(k for r in results for k in r.point.settings))
    rows = [{**{n: r.point.settings.get(n) for n in names}, **{c: r.metrics.get(c) for c in columns}} for r in results]
    return pd.DataFrame(rows, columns=[*names, *columns])


def returns_matrix(results: Sequence[PointResult]) -> np.ndarray:
    """Sessions × points daily returns over the common sessions (for the statistics and the pictures)."""
    return pd.concat([r.returns() for r in results], axis=1, join="inner").to_numpy()
