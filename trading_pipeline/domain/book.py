"""The book and what flows through it: positions, orders, fills, risk events.

Everything is a frozen dataclass with a JSON-safe ``to_dict``/``from_dict`` round trip, so the state
that the sizing, execution and live steps carry from one session to the next can be stored and
reloaded bit for bit. Order and fill ids are derived from their content, never from a clock or a
counter: a retried step recomputes the same id, which is what lets a broker reject a duplicate.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any, ClassVar, Literal, Self

import pandas as pd

Side = Literal["buy", "sell"]
EventAction = Literal["rejected", "clipped", "cancelled", "info"]
SIDES: tuple[str, ...] = ("buy", "sell")
# "info": a state change worth journaling that blocks no single order (a breaker trips or resumes).
EVENT_ACTIONS: tuple[str, ...] = ("rejected", "clipped", "cancelled", "info")
# Market orders are what the sizer sends; stop and limit orders are the protective exits of a position.
ORDER_TYPES: tuple[str, ...] = ("market", "stop", "limit")
BREAKER_REASONS: tuple[str, ...] = ("drawdown", "losing_streak")
_ACCOUNT_SNAPSHOT = ("account_exposure_before", "account_equity", "account_day_start_equity")


def as_session(value: date | str) -> date:
    """A session as a plain ``date``: Timestamps/datetimes (a ``date`` subclass) would not compare with dates."""
    if isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, datetime):
        if (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0):
            raise ValueError(f"a session is a calendar date, got a time of day: {value!r}")
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"a session must be a date, got {type(value).__name__}: {value!r}")


def _short_hash(*parts: object) -> str:
    return hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:20]


def client_order_id(book: str, session: date, symbol: str, intent: str) -> str:
    """Deterministic order id: the same (book, session, symbol, intent) always yields the same id."""
    return "tp-" + _short_hash(book, as_session(session).isoformat(), symbol, intent)


def fill_id(client_order_id: str) -> str:
    """Deterministic fill id; an order fills at most once, so the order id determines it."""
    return "tpf-" + _short_hash("fill", client_order_id)


def _finite(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _check_date(name: str, value: Any) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime.date (see as_session), got {type(value).__name__}: {value!r}")


def _optional_date(value: Any) -> date | None:
    return None if value is None else as_session(value)


def _json_safe(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not JSON-safe")
    return value


class _Record:
    """JSON-safe round trip for the flat records below; ``_DATE_FIELD`` names the one date they carry."""

    __slots__ = ()
    _DATE_FIELD: ClassVar[str] = "session"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _json_safe(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(**{**data, cls._DATE_FIELD: as_session(data[cls._DATE_FIELD])})


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskEvent(_Record):
    """Why an order was rejected, clipped or cancelled (every intent that does not fill in full leaves one),
    or an ``info`` state change such as a circuit breaker tripping."""

    session: date
    symbol: str | None
    rule: str
    action: EventAction
    value: float | None
    limit: float | None
    message: str

    def __post_init__(self) -> None:
        _check_date("session", self.session)
        if self.action not in EVENT_ACTIONS:
            raise ValueError(f"event action must be one of {EVENT_ACTIONS}, got {self.action!r}")
        for name in ("value", "limit"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"event {name} must be finite or None, got {v!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Position(_Record):
    """A long holding; ``avg_price`` is the cost basis per share (fill prices, commissions excluded).

    The exit instructions travel with the position (they came with its entry order): a fixed ``stop``,
    a trailing stop ``trail_distance`` (price units, e.g. k × ATR) or ``trail_pct`` below ``high_water``
    (the highest high since entry), a take-profit ``target`` and a time stop after ``max_holding_sessions``
    closes. Fields added after the first journaled states have defaults, so old states still load.
    """

    _DATE_FIELD: ClassVar[str] = "entry_session"

    symbol: str
    qty: float
    avg_price: float
    last_price: float
    entry_session: date
    stop: float | None
    target: float | None = None
    trail_distance: float | None = None
    trail_pct: float | None = None
    high_water: float | None = None
    max_holding_sessions: int | None = None
    sessions_held: int = 0

    def __post_init__(self) -> None:
        _check_date("entry_session", self.entry_session)
        _finite("position qty", self.qty)
        if self.qty <= 0:
            raise ValueError(f"{self.symbol}: a position must have a positive qty, got {self.qty}")
        _finite("avg_price", self.avg_price)
        _finite("last_price", self.last_price)
        for name in ("stop", "target", "trail_distance", "trail_pct", "high_water"):
            if getattr(self, name) is not None:
                _finite(name, getattr(self, name))
        if self.trail_pct is not None and not 0 < self.trail_pct < 1:
            raise ValueError(f"{self.symbol}: trail_pct must be in (0, 1), got {self.trail_pct}")

    @property
    def market_value(self) -> float:
        return self.qty * self.last_price

    def protective_stop(self) -> tuple[float | None, str]:
        """The effective stop level (the highest of the fixed and trailing stops) and the rule it belongs to."""
        level, rule = self.stop, "stop_loss"
        if self.high_water is not None:
            for trail in (
                None if self.trail_distance is None else self.high_water - self.trail_distance,
                None if self.trail_pct is None else self.high_water * (1.0 - self.trail_pct),
            ):
                if trail is not None and (level is None or trail > level):
                    level, rule = trail, "trailing_stop"
        return level, rule


@dataclass(frozen=True, slots=True, kw_only=True)
class Order(_Record):
    """A market order decided on ``session`` (at its close), to fill at the next session's open; or a
    protective exit (``stop``/``limit``/time-stop ``market``) that the simulator triggered and filled on ``session``.

    The ``*_at_decision``/``*_before`` fields snapshot the book when the order was sized (``account_*``: its
    account, all its books together; ``halted``: the book was halted), so the risk limits can be re-checked from
    the order table alone, independently of the sizing code. A buy carries
    its position's exit instructions (``stop_price``, ``take_profit``, trailing, time stop), as a bracket
    order at a broker would.
    """

    client_order_id: str
    book: str
    session: date
    symbol: str
    side: Side
    qty: float
    order_type: str = "market"
    ref_price: float
    stop_price: float | None
    atr: float | None
    confidence: float
    strategy: str
    reason: str
    equity_at_decision: float
    cash_at_decision: float
    position_qty_before: float
    open_positions_before: int
    take_profit: float | None = None
    trail_distance: float | None = None
    trail_pct: float | None = None
    max_holding_sessions: int | None = None
    sector: str = ""
    sector_value_before: float = 0.0
    day_start_equity: float | None = None
    risk_peak_at_decision: float | None = None
    losing_streak_before: int = 0
    breaker_tripped: bool = False
    parent: str | None = None  # a broker-held exit: the order it belongs to (its entry, or its OCO partner)
    halted: bool = False
    account_exposure_before: float | None = None
    account_equity: float | None = None
    account_day_start_equity: float | None = None

    def __post_init__(self) -> None:
        _check_date("session", self.session)
        if self.side not in SIDES:
            raise ValueError(f"order side must be one of {SIDES}, got {self.side!r}")
        if self.order_type not in ORDER_TYPES:
            raise ValueError(f"order type must be one of {ORDER_TYPES}, got {self.order_type!r}")
        _finite("order qty", self.qty)
        if self.qty <= 0:
            raise ValueError(f"{self.symbol}: order qty must be positive, got {self.qty}")
        _finite("ref_price", self.ref_price)
        if self.ref_price <= 0:
            raise ValueError(f"{self.symbol}: ref_price must be positive, got {self.ref_price}")
        for name in (
            "stop_price",
            "atr",
            "take_profit",
            "trail_distance",
            "trail_pct",
            "day_start_equity",
            "risk_peak_at_decision",
            *_ACCOUNT_SNAPSHOT,
        ):
            v = getattr(self, name)
            if v is not None:
                _finite(name, v)
        for name in ("confidence", "equity_at_decision", "cash_at_decision", "position_qty_before"):
            _finite(name, getattr(self, name))
        _finite("sector_value_before", self.sector_value_before)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill(_Record):
    """An executed order; ``slippage`` is the money lost to slippage, ``qty × |price − reference|`` (the open,
    or the stop/target level a protective exit triggered at)."""

    fill_id: str
    client_order_id: str
    book: str
    session: date
    symbol: str
    side: Side
    qty: float
    price: float
    commission: float
    slippage: float

    def __post_init__(self) -> None:
        _check_date("session", self.session)
        if self.side not in SIDES:
            raise ValueError(f"fill side must be one of {SIDES}, got {self.side!r}")
        for name in ("qty", "price", "commission", "slippage"):
            _finite(name, getattr(self, name))


def after_buy(held: Position | None, order: Order, qty: float, price: float, session: date, mark: float) -> Position:
    """The position after a buy of ``qty`` at ``price``: opened with its order's exit instructions, or added to at
    average cost (a new stop on the order replaces the old one); ``mark`` is the price it is marked at now."""
    if held is None:
        return Position(
            symbol=order.symbol,
            qty=qty,
            avg_price=price,
            last_price=mark,
            entry_session=session,
            stop=order.stop_price,
            target=order.take_profit,
            trail_distance=order.trail_distance,
            trail_pct=order.trail_pct,
            high_water=mark,
            max_holding_sessions=order.max_holding_sessions,
        )
    total = held.qty + qty
    return replace(
        held,
        qty=total,
        avg_price=(held.qty * held.avg_price + qty * price) / total,
        last_price=mark,
        stop=order.stop_price if order.stop_price is not None else held.stop,
    )


def compute_equity(cash: float, positions: Mapping[str, Position]) -> float:
    """Cash plus marked positions, summed in symbol order so the float result is reproducible."""
    return cash + sum(positions[s].market_value for s in sorted(positions))


@dataclass(frozen=True, slots=True, kw_only=True)
class BookState:
    """The book after a session's close: what the next session starts from.

    ``equity`` is stored (it is what reports read) but must equal ``cash + Σ qty × last_price``; the
    constructor enforces it, so a hand-edited or corrupted state cannot slip through.

    Risk state: ``day_start_equity`` (equity at the previous close, for the daily loss limit) and
    ``losing_streak`` (consecutive losing round trips) are accounting the simulator keeps. The circuit
    breaker fields are kept by ``risk.update_risk_state``: ``breaker`` (why it is tripped, None when not),
    since when and for how many closes, ``risk_peak`` (the peak equity its drawdown is measured from,
    rebased by a resume or reset) and ``streak_floor`` (the part of the streak a resume acknowledged).
    """

    book: str
    cash: float
    positions: dict[str, Position] = field(default_factory=dict)
    pending: tuple[Order, ...] = ()
    peak_equity: float
    last_session: date | None
    equity: float
    day_start_equity: float | None = None
    losing_streak: int = 0
    breaker: str | None = None
    breaker_since: date | None = None
    breaker_sessions: int = 0
    risk_peak: float | None = None
    streak_floor: int = 0

    def __post_init__(self) -> None:
        for name in ("cash", "peak_equity", "equity"):
            _finite(name, getattr(self, name))
        for name in ("day_start_equity", "risk_peak"):
            if getattr(self, name) is not None:
                _finite(name, getattr(self, name))
        if self.breaker is not None and self.breaker not in BREAKER_REASONS:
            raise ValueError(f"breaker must be one of {BREAKER_REASONS} or None, got {self.breaker!r}")
        if self.breaker_since is not None:
            _check_date("breaker_since", self.breaker_since)
        if self.last_session is not None:
            _check_date("last_session", self.last_session)
        for symbol, position in self.positions.items():
            if position.symbol != symbol:
                raise ValueError(f"position keyed {symbol!r} is for {position.symbol!r}")
        for order in self.pending:
            if order.book != self.book:
                raise ValueError(
                    f"pending order {order.client_order_id} belongs to book {order.book!r}, not {self.book!r}"
                )
        expected = compute_equity(self.cash, self.positions)
        if abs(self.equity - expected) > 1e-9 * max(1.0, abs(expected)):
            raise ValueError(f"book {self.book!r}: equity {self.equity} != cash + positions {expected}")

    @classmethod
    def initial(cls, book: str, capital: float) -> BookState:
        _finite("capital", capital)
        if capital <= 0:
            raise ValueError(f"initial capital must be positive, got {capital}")
        capital = float(capital)
        return cls(
            book=book, cash=capital, positions={}, pending=(), peak_equity=capital, last_session=None, equity=capital
        )

    @property
    def drawdown(self) -> float:
        """Current drawdown from the peak, a non-positive fraction."""
        return self.equity / self.peak_equity - 1.0 if self.peak_equity > 0 else 0.0

    @property
    def breaker_peak(self) -> float:
        """The peak the circuit breaker measures drawdown from (the all-time peak until a resume rebases it)."""
        return self.peak_equity if self.risk_peak is None else self.risk_peak

    def to_dict(self) -> dict[str, Any]:
        return {
            "book": self.book,
            "cash": self.cash,
            "positions": {s: self.positions[s].to_dict() for s in sorted(self.positions)},
            "pending": [o.to_dict() for o in self.pending],
            "peak_equity": self.peak_equity,
            "last_session": _json_safe(self.last_session),
            "equity": self.equity,
            "day_start_equity": self.day_start_equity,
            "losing_streak": self.losing_streak,
            "breaker": self.breaker,
            "breaker_since": _json_safe(self.breaker_since),
            "breaker_sessions": self.breaker_sessions,
            "risk_peak": self.risk_peak,
            "streak_floor": self.streak_floor,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BookState:
        """Also reads states journaled before the risk-state fields existed: they take their defaults."""
        return cls(
            book=data["book"],
            cash=data["cash"],
            positions={s: Position.from_dict(p) for s, p in sorted(data["positions"].items())},
            pending=tuple(Order.from_dict(o) for o in data["pending"]),
            peak_equity=data["peak_equity"],
            last_session=_optional_date(data["last_session"]),
            equity=data["equity"],
            day_start_equity=data.get("day_start_equity"),
            losing_streak=data.get("losing_streak", 0),
            breaker=data.get("breaker"),
            breaker_since=_optional_date(data.get("breaker_since")),
            breaker_sessions=data.get("breaker_sessions", 0),
            risk_peak=data.get("risk_peak"),
            streak_floor=data.get("streak_floor", 0),
        )


ORDER_COLUMNS = [f.name for f in fields(Order)]
FILL_COLUMNS = [f.name for f in fields(Fill)]
EVENT_COLUMNS = [f.name for f in fields(RiskEvent)]


def _frame(rows: Iterable[Any], columns: Sequence[str], date_columns: Sequence[str]) -> pd.DataFrame:
    # Column by column with getattr: dataclasses.asdict deep-copies every field and made a backtest's
    # 100k+ risk events cost seconds.
    records = list(rows)
    frame = pd.DataFrame({c: [getattr(r, c) for r in records] for c in columns}, columns=list(columns))
    for col in date_columns:
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    return frame


def orders_to_frame(orders: Iterable[Order]) -> pd.DataFrame:
    """Orders as a table (``session`` as datetime64[ns]), the shape ``verify_orders`` checks."""
    return _frame(orders, ORDER_COLUMNS, ["session"])


def fills_to_frame(fills: Iterable[Fill]) -> pd.DataFrame:
    """Fills as a table (``session`` as datetime64[ns]), the shape ``round_trips`` reads."""
    return _frame(fills, FILL_COLUMNS, ["session"])


def events_to_frame(events: Iterable[RiskEvent]) -> pd.DataFrame:
    return _frame(events, EVENT_COLUMNS, ["session"])


def check_trade_frame(frame: pd.DataFrame, columns: Sequence[str], label: str) -> None:
    """ValueError unless ``frame`` (orders or fills) has ``columns`` and only buy/sell sides."""
    missing = sorted(set(columns) - set(frame.columns))
    if missing:
        raise ValueError(f"{label} frame is missing columns {missing}")
    if "side" in frame.columns:
        bad = sorted(set(frame["side"]) - set(SIDES))
        if bad:
            raise ValueError(f"{label} frame holds unknown sides {bad}")


def orders_from_frame(frame: pd.DataFrame) -> list[Order]:
    """Orders back from their table (e.g. the approved orders an execution step replays); NaN → None."""
    check_trade_frame(frame, ORDER_COLUMNS, "orders")
    orders = []
    for record in frame[ORDER_COLUMNS].to_dict("records"):
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
        clean["session"] = as_session(pd.Timestamp(clean["session"]).to_pydatetime())
        for name in ("open_positions_before", "losing_streak_before"):
            clean[name] = int(clean[name])
        for name in ("breaker_tripped", "halted"):
            clean[name] = bool(clean[name])
        holding = clean["max_holding_sessions"]
        clean["max_holding_sessions"] = None if holding is None else int(holding)
        for name in (
            "qty",
            "ref_price",
            "confidence",
            "equity_at_decision",
            "cash_at_decision",
            "position_qty_before",
            "sector_value_before",
        ):
            clean[name] = float(clean[name])
        for name in (
            "stop_price",
            "atr",
            "take_profit",
            "trail_distance",
            "trail_pct",
            "day_start_equity",
            "risk_peak_at_decision",
            *_ACCOUNT_SNAPSHOT,
        ):
            clean[name] = None if clean[name] is None else float(clean[name])
        orders.append(Order(**clean))
    return orders
