"""The one session loop, shared by the backtest sizing, the execution replay and the live step.

Each session is settled — yesterday's orders filled at today's open, the protective exits triggered on
today's bar, the book marked at today's close — then the circuit breaker is updated and today's orders are
decided; they wait as pending for tomorrow's open. Only ``decide`` differs between the callers — the sizer
sizes signals, the execution step replays approved orders — so the replay of approved orders reproduces the
sizing run's fills and equity exactly. The breaker only gates decisions, so a replay without it is completed
by ``track_risk_state`` to the very states the sizing run carried. A real broker settles a session with what
it did (``settle``) instead of the simulator's fills: the decisions are then taken on the broker's book.
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
from trading_pipeline.domain.risk.accounts import DEFAULT_ACCOUNT_LIMITS, NO_OTHER_BOOKS, AccountLimits, OtherBooks
from trading_pipeline.domain.risk.breaker import update_risk_state, with_risk_state
from trading_pipeline.domain.risk.halt import Halt
from trading_pipeline.domain.risk.limits import RiskLimits
from trading_pipeline.domain.risk.sizing import prepare_signals, size_orders
from trading_pipeline.domain.sectors import load_sector_map
from trading_pipeline.domain.simulator import close_session, manage_positions, open_session

Decide = Callable[[BookState, date], tuple[list[Order], list[RiskEvent]]]


@dataclass(frozen=True, slots=True)
class Settlement:
    """A session settled: the book at its close, its fills, events and triggered exits. ``state.pending`` holds
    what is still working (a real broker's protective exits, an entry that has not filled); the simulator
    leaves nothing pending."""

    state: BookState
    fills: tuple[Fill, ...] = ()
    events: tuple[RiskEvent, ...] = ()
    exits: tuple[Order, ...] = ()


Settle = Callable[[BookState, date], Settlement]


@dataclass(frozen=True, slots=True)
class PricePanels:
    """Wide (session × symbol) opens, highs, lows and closes of the tradable bars; NaN where not tradable.

    Highs and lows are what lets a stop or target that was touched inside a session fill; the four
    panels must share one index and one set of columns so a cell means the same bar in each.
    """

    opens: pd.DataFrame
    highs: pd.DataFrame
    lows: pd.DataFrame
    closes: pd.DataFrame

    def __post_init__(self) -> None:
        for name in ("highs", "lows", "closes"):
            other = getattr(self, name)
            if not other.index.equals(self.opens.index) or not other.columns.equals(self.opens.columns):
                raise ValueError(f"price panels: {name} is not aligned with opens (same sessions and symbols)")

    @classmethod
    def from_bars(cls, bars: pd.DataFrame, sessions: Sequence[date]) -> PricePanels:
        """Pivot long bars (``date``, ``symbol``, open/high/low/close) into panels over ``sessions``."""
        missing = sorted({"date", "symbol", "open", "high", "low", "close"} - set(bars.columns))
        if missing:
            raise ValueError(f"bars are missing columns {missing}")
        index = pd.DatetimeIndex(pd.to_datetime(list(sessions)))
        symbols = sorted(bars["symbol"].unique())
        wide = bars.pivot(index="date", columns="symbol", values=["open", "high", "low", "close"])
        panel = {f: wide[f].reindex(index=index, columns=symbols) for f in ("open", "high", "low", "close")}
        return cls(opens=panel["open"], highs=panel["high"], lows=panel["low"], closes=panel["close"])


@dataclass(frozen=True, slots=True)
class SessionResult:
    """One session: fills (at its open and of its protective exits), orders decided at its close, all events,
    the book carried forward, and the protective exit orders the bar triggered."""

    session: date
    fills: tuple[Fill, ...]
    orders: tuple[Order, ...]
    events: tuple[RiskEvent, ...]
    state: BookState
    exits: tuple[Order, ...] = ()


class _Row:
    """One session's prices of a panel, looked up by symbol without building a dict per session."""

    __slots__ = ("_columns", "_values")

    def __init__(self, columns: Mapping[str, int], values: np.ndarray) -> None:
        self._columns, self._values = columns, values

    def get(self, symbol: str, /) -> float | None:
        i = self._columns.get(symbol)
        return None if i is None else float(self._values[i])


def _price_rows(frame: pd.DataFrame, sessions: Sequence[date], name: str) -> list[_Row]:
    """Per requested session, the prices by symbol (NaN/non-positive = not tradable) — one array, before the loop."""
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
    columns = {str(c): i for i, c in enumerate(frame.columns)}
    return [_Row(columns, row) for row in values]


def run_sessions(
    state: BookState,
    sessions: Sequence[date],
    prices: PricePanels,
    decide: Decide,
    costs: CostModel,
    limits: RiskLimits | None = None,
    settle: Settle | None = None,
) -> list[SessionResult]:
    """Walk ``sessions`` in order from ``state``.

    ``prices`` are wide (session × symbol); NaN marks a bar that is missing or quarantined, which
    cancels an order due at that open, lets no protective exit trigger and leaves a position at its
    last mark. With ``limits`` the circuit breaker is updated at each close, before ``decide``. ``settle``
    replaces the simulator's settlement (a real broker's); the decisions are added to what it leaves pending.
    """
    days = [as_session(s) for s in sessions]
    for prev, nxt in pairwise(days):
        if nxt <= prev:
            raise ValueError(f"sessions must be strictly increasing: {nxt} follows {prev}")
    if days and state.last_session is not None and days[0] <= state.last_session:
        raise ValueError(f"book {state.book!r} is already closed at {state.last_session}; cannot run from {days[0]}")
    settle = settle or simulated_settlement(prices, days, costs)
    results: list[SessionResult] = []
    for session in days:
        settled = settle(state, session)
        state = settled.state
        state_events: list[RiskEvent] = []
        if limits is not None:
            state, state_events = update_risk_state(state, session, limits)
        orders, events = decide(state, session)
        ids = [o.client_order_id for o in orders]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{session}: decide returned duplicate client order ids")
        foreign = [o.client_order_id for o in orders if o.session != session or o.book != state.book]
        if foreign:
            raise ValueError(f"{session}: decide returned orders of another session or book: {foreign}")
        state = replace(state, pending=(*state.pending, *orders))
        results.append(
            SessionResult(
                session,
                settled.fills,
                tuple(orders),
                (*settled.events, *state_events, *events),
                state,
                settled.exits,
            )
        )
    return results


def simulated_settlement(prices: PricePanels, sessions: Sequence[date], costs: CostModel) -> Settle:
    """The simulator's settlement of ``sessions``: fills at the open, exits on the bar, marks at the close."""
    panels = [_price_rows(getattr(prices, name), sessions, name) for name in ("opens", "highs", "lows", "closes")]
    rows = {session: day for session, *day in zip(sessions, *panels, strict=True)}

    def settle(state: BookState, session: date) -> Settlement:
        opens, highs, lows, closes = rows[session]
        state, fills, events = open_session(state, session, opens, costs, highs, lows)
        state, exit_fills, exits = manage_positions(state, session, opens, highs, lows, costs)
        state = close_session(state, session, closes, highs)
        return Settlement(state, (*fills, *exit_fills), tuple(events), tuple(exits))

    return settle


def track_risk_state(start: BookState, results: Sequence[SessionResult], limits: RiskLimits) -> list[SessionResult]:
    """Complete results run without ``limits`` (a broker's replay) with the circuit breaker states and events.

    The breaker only gates decisions, so threading ``update_risk_state`` through the replayed books
    after the fact yields exactly the states the sizing run carried session by session.
    """
    out: list[SessionResult] = []
    previous = start
    for r in results:
        state, events = update_risk_state(with_risk_state(r.state, previous), r.session, limits)
        out.append(replace(r, state=state, events=(*r.events, *events)))
        previous = state
    return out


def sizing_decider(
    signals: pd.DataFrame,
    limits: RiskLimits,
    costs: CostModel,
    sectors: Mapping[str, str] | None = None,
    halt: Halt | None = None,
    account: AccountLimits = DEFAULT_ACCOUNT_LIMITS,
    others: Mapping[date, OtherBooks] | None = None,
) -> Decide:
    """Decide by sizing each session's signals (one frame, ``date`` column, validated once up front);
    a session without signals decides nothing. ``halt`` (the book's, for the whole run) and ``account`` (its
    limits; ``others``: the account's other books at each close) bind every session. What still works at a real
    broker after its settlement (the positions' protective exits, an entry the cycle will cancel) takes no cash
    and changes no decision."""
    by_session = prepare_signals(signals)
    sectors = load_sector_map() if sectors is None else sectors
    others = {} if others is None else others

    def decide(state: BookState, session: date) -> tuple[list[Order], list[RiskEvent]]:
        prepared = by_session.get(session)
        if prepared is None:
            return [], []
        around = others.get(session, NO_OTHER_BOOKS)
        return size_orders(replace(state, pending=()), session, prepared, limits, costs, sectors, halt, account, around)

    return decide


def replay_decider(orders_by_session: Mapping[date, Sequence[Order]]) -> Decide:
    """Decide by replaying already approved orders (the execution step); it never resizes them."""
    orders = {as_session(d): list(os) for d, os in orders_by_session.items()}
    for day, day_orders in orders.items():
        stray = [o.client_order_id for o in day_orders if o.session != day]
        if stray:
            raise ValueError(f"orders filed under {day} were decided on another session: {stray}")

    def decide(state: BookState, session: date) -> tuple[list[Order], list[RiskEvent]]:
        return list(orders.get(session, ())), []

    return decide


def equity_curve(results: Sequence[SessionResult]) -> pd.Series:
    """End-of-session equity, indexed by session (datetime64[ns])."""
    index = pd.DatetimeIndex([pd.Timestamp(r.session) for r in results], name="session").astype("datetime64[ns]")
    return pd.Series([r.state.equity for r in results], index=index, name="equity", dtype="float64")
