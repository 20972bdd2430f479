"""The one session loop, shared by the backtest sizing, the execution replay and the live step.

Each session: fill yesterday's orders at today's open, mark at today's close, then decide today's
orders, which wait as pending for tomorrow's open. Only ``decide`` differs between the callers — the
sizer sizes signals, the execution step replays approved orders — so the replay of approved orders
reproduces the sizing run's fills and equity exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from itertools import pairwise

import numpy as np
import pandas as pd

from trading_pipeline.domain.book import BookState, Fill, Order, RiskEvent, as_session
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.risk import RiskLimits, size_orders
from trading_pipeline.domain.simulator import close_session, open_session

Decide = Callable[[BookState, date], tuple[list[Order], list[RiskEvent]]]


@dataclass(frozen=True, slots=True)
class SessionResult:
    """One session: fills at its open, orders decided at its close, all events, and the book carried forward."""

    session: date
    fills: tuple[Fill, ...]
    orders: tuple[Order, ...]
    events: tuple[RiskEvent, ...]
    book: BookState


def _price_rows(frame: pd.DataFrame, sessions: Sequence[date], name: str) -> list[dict[str, float]]:
    """Per requested session, the usable (finite, positive) prices by symbol — built once, before the loop."""
    if not frame.columns.is_unique:
        raise ValueError(f"{name} has duplicate symbol columns")
    index = [as_session(pd.Timestamp(d).to_pydatetime()) for d in frame.index]
    position = {d: i for i, d in enumerate(index)}
    if len(position) != len(index):
        raise ValueError(f"{name} has duplicate sessions in its index")
    absent = [d for d in sessions if d not in position]
    if absent:
        raise ValueError(f"{name} has no row for sessions {absent[:5]}{' …' if len(absent) > 5 else ''}")
    rows = [position[d] for d in sessions]
    values = frame.to_numpy(dtype="float64", na_value=np.nan)[rows]
    usable = np.isfinite(values) & (values > 0)
    symbols = np.asarray([str(c) for c in frame.columns], dtype=object)
    return [
        dict(zip(symbols[mask].tolist(), row[mask].tolist(), strict=True))
        for row, mask in zip(values, usable, strict=True)
    ]


def run_sessions(
    book: BookState,
    sessions: Sequence[date],
    opens: pd.DataFrame,
    closes: pd.DataFrame,
    decide: Decide,
    costs: CostModel,
) -> list[SessionResult]:
    """Walk ``sessions`` in order from ``book``.

    ``opens``/``closes`` are wide (session × symbol); NaN marks a bar that is missing or quarantined, which
    cancels an order due at that open and leaves a position at its last mark.
    """
    days = [as_session(s) for s in sessions]
    for prev, nxt in pairwise(days):
        if nxt <= prev:
            raise ValueError(f"sessions must be strictly increasing: {nxt} follows {prev}")
    if days and book.last_session is not None and days[0] <= book.last_session:
        raise ValueError(f"book {book.book!r} is already closed at {book.last_session}; cannot run from {days[0]}")
    open_rows = _price_rows(opens, days, "opens")
    close_rows = _price_rows(closes, days, "closes")
    results: list[SessionResult] = []
    for session, day_opens, day_closes in zip(days, open_rows, close_rows, strict=True):
        book, fills, fill_events = open_session(book, session, day_opens, costs)
        book = close_session(book, session, day_closes)
        orders, events = decide(book, session)
        ids = [o.client_order_id for o in orders]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{session}: decide returned duplicate client order ids")
        foreign = [o.client_order_id for o in orders if o.session != session or o.book != book.book]
        if foreign:
            raise ValueError(f"{session}: decide returned orders of another session or book: {foreign}")
        book = replace(book, pending=tuple(orders))
        results.append(SessionResult(session, tuple(fills), tuple(orders), (*fill_events, *events), book))
    return results


def sizing_decider(signals_by_session: Mapping[date, pd.DataFrame], limits: RiskLimits, costs: CostModel) -> Decide:
    """Decide by sizing each session's signals; a session without signals decides nothing."""
    signals = {as_session(d): frame for d, frame in signals_by_session.items()}

    def decide(book: BookState, session: date) -> tuple[list[Order], list[RiskEvent]]:
        frame = signals.get(session)
        if frame is None:
            return [], []
        return size_orders(book, session, frame, limits, costs)

    return decide


def replay_decider(orders_by_session: Mapping[date, Sequence[Order]]) -> Decide:
    """Decide by replaying already approved orders (the execution step); it never resizes them."""
    orders = {as_session(d): list(os) for d, os in orders_by_session.items()}
    for day, day_orders in orders.items():
        stray = [o.client_order_id for o in day_orders if o.session != day]
        if stray:
            raise ValueError(f"orders filed under {day} were decided on another session: {stray}")

    def decide(book: BookState, session: date) -> tuple[list[Order], list[RiskEvent]]:
        return list(orders.get(session, ())), []

    return decide


def equity_curve(results: Sequence[SessionResult]) -> pd.Series:
    """End-of-session equity, indexed by session (datetime64[ns])."""
    index = pd.DatetimeIndex([pd.Timestamp(r.session) for r in results], name="session").astype("datetime64[ns]")
    return pd.Series([r.book.equity for r in results], index=index, name="equity", dtype="float64")
