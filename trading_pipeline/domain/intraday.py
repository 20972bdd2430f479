"""The intraday cycle's pure pieces: regular-hours minute bars, 15-minute resampling, protective exits on
intraday bars, and the price-move rule of the event sensor.

Intraday bars are keyed by their END time (``bar_end``, tz-aware UTC): a bar ending at 10:00 ET is known
at 10:00 and not before, so "the bars known at ``as_of``" is simply ``bar_end <= as_of``. Regular hours
are the bars ending after the open (09:30 ET) and at or before the session's close, which is 13:00 on
early closes (the exchange calendar says which).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

import pandas as pd

from trading_pipeline.domain import calendar
from trading_pipeline.domain.book import BookState, Fill, Order, compute_equity
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.simulator import manage_positions

# XNYS opens at 09:30 on every session (early closes move only the close).
REGULAR_OPEN = time(9, 30)
BAR_COLUMNS = ["symbol", "bar_end", "open", "high", "low", "close", "volume"]
DEFAULT_MOVE_THRESHOLD = 0.05


def session_hours(session: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(open, close) of a NYSE session as tz-aware UTC timestamps; the close honours early closes."""
    close = calendar.session_close(session)
    opening = pd.Timestamp(datetime.combine(close.date(), REGULAR_OPEN), tz=calendar.EXCHANGE_TZ)
    return opening.tz_convert("UTC"), close.tz_convert("UTC")


def session_of(moment: datetime | pd.Timestamp) -> date:
    """The New York calendar date of a tz-aware instant (whether or not it is a session)."""
    stamp = pd.Timestamp(moment)
    if stamp.tz is None:
        raise ValueError(f"expected a tz-aware instant, got {moment!r}")
    return stamp.tz_convert(calendar.EXCHANGE_TZ).date()


def empty_bars() -> pd.DataFrame:
    """No bars, with the columns and dtypes of real ones."""
    return pd.DataFrame(
        {
            "symbol": pd.Series(dtype=object),
            "bar_end": pd.Series(dtype="datetime64[ns, UTC]"),
            **{c: pd.Series(dtype="float64") for c in ("open", "high", "low", "close", "volume")},
        }
    )


def validate_minute_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """Check a frame of intraday bars (BAR_COLUMNS, ``bar_end`` tz-aware) and return it sorted by symbol, time.

    Bad bars are refused with the offending rows named, never dropped silently: intraday exits fill at
    these prices.
    """
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"intraday bars lack columns {missing}; expected {BAR_COLUMNS}")
    frame = bars[BAR_COLUMNS].copy()
    if not isinstance(frame["bar_end"].dtype, pd.DatetimeTZDtype):
        raise ValueError("intraday bars: bar_end must be tz-aware timestamps (the END of each bar)")
    frame["bar_end"] = frame["bar_end"].dt.tz_convert("UTC")
    prices = frame[["open", "high", "low", "close"]].astype("float64")
    bad = prices.isna().any(axis=1) | (prices <= 0).any(axis=1)
    bad |= (prices["high"] < prices[["open", "close", "low"]].max(axis=1)) | (
        prices["low"] > prices[["open", "close"]].min(axis=1)
    )
    bad |= frame["volume"].isna() | (frame["volume"] < 0)
    if bad.any():
        shown = frame[bad].head(3).to_dict("records")
        raise ValueError(
            f"intraday bars: {int(bad.sum())} invalid bar(s) (NaN, non-positive or inverted OHLC): {shown}"
        )
    duplicated = frame.duplicated(["symbol", "bar_end"])
    if duplicated.any():
        raise ValueError(f"intraday bars: duplicate (symbol, bar_end): {frame[duplicated].head(3).to_dict('records')}")
    frame[["open", "high", "low", "close"]] = prices
    frame["volume"] = frame["volume"].astype("float64")
    return frame.sort_values(["symbol", "bar_end"], ignore_index=True)


def regular_hours(bars: pd.DataFrame, session: date) -> pd.DataFrame:
    """The bars of ``session`` ending after its open and at or before its (possibly early) close."""
    opening, close = session_hours(session)
    keep = (bars["bar_end"] > opening) & (bars["bar_end"] <= close)
    return bars[keep].reset_index(drop=True)


def resample(bars: pd.DataFrame, session: date, minutes: int = 15) -> pd.DataFrame:
    """Regular-hours bars of ``session`` aggregated into ``minutes`` bars anchored at the open.

    A bar is labelled by its end (09:45, 10:00, ... ET); minutes without trades are simply absent from
    the input, and a window without any trade yields no bar. The last window ends at the close, early or
    not (390 and 210 minutes are both multiples of 15).
    """
    if minutes <= 0 or 390 % minutes:
        raise ValueError(f"minutes must divide the 390-minute session, got {minutes}")
    regular = regular_hours(bars, session)
    if regular.empty:
        return empty_bars()
    opening, close = session_hours(session)
    step = pd.Timedelta(minutes=minutes)
    # A minute bar ending at t belongs to the window ending at open + k*step with k = ceil((t - open) / step).
    k = ((regular["bar_end"] - opening) / step).apply(math.ceil)
    regular = regular.assign(bar_end=[min(opening + step * int(i), close) for i in k])
    grouped = regular.groupby(["symbol", "bar_end"], sort=True)
    out = grouped.agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
    )
    return out.reset_index()[BAR_COLUMNS]


def known_at(bars: pd.DataFrame, as_of: datetime | pd.Timestamp) -> pd.DataFrame:
    """The bars complete at ``as_of`` (their end at or before it): nothing later may drive a decision."""
    stamp = pd.Timestamp(as_of)
    if stamp.tz is None:
        raise ValueError(f"as_of must be tz-aware, got {as_of!r}")
    return bars[bars["bar_end"] <= stamp].reset_index(drop=True)


def last_close(bars: pd.DataFrame) -> dict[str, float]:
    """The latest close per symbol in ``bars``."""
    if bars.empty:
        return {}
    latest = bars.sort_values("bar_end").groupby("symbol")["close"].last()
    return {str(s): float(v) for s, v in latest.items()}


# --- protective exits on intraday bars -----------------------------------------------------------------


@dataclass(frozen=True)
class IntradayResult:
    """The book after the session's bars so far, the exits they triggered (filled protective orders), and
    when each exit happened."""

    state: BookState
    exits: tuple[Order, ...]
    fills: tuple[Fill, ...]
    exit_times: Mapping[str, pd.Timestamp]
    bars_seen: int


def manage_intraday(state: BookState, session: date, bars: pd.DataFrame, costs: CostModel) -> IntradayResult:
    """Walk ``session``'s intraday bars in time order, triggering stops, trailing stops and take-profits.

    Each bar is handed to the simulator's own exit rule (``simulator.manage_positions``): a bar that opens
    through a stop fills at its open, a stop touched inside the bar fills at the stop, stop before target
    when one bar touches both; exit ids are the simulator's (book, session, symbol, rule), so the daily
    cycle re-deriving the same exit from the daily bar names the same order. Between bars the trailing
    ``high_water`` ratchets to each bar's high, so a trailing stop tightens from the next bar on (the
    simulator does this once per session, at the close). Orders still pending (to fill at the open) are
    the daily cycle's and are carried through untouched; positions entered today are left alone, as in
    the simulator.
    """
    if state.last_session is not None and state.last_session >= session:
        raise ValueError(
            f"book {state.book!r} is already closed at {state.last_session}; cannot manage {session} intraday"
        )
    pending = state.pending
    current = replace(state, pending=())
    exits: list[Order] = []
    fills: list[Fill] = []
    exit_times: dict[str, pd.Timestamp] = {}
    ordered = bars.sort_values(["bar_end", "symbol"])
    for bar_end, bar in ordered.groupby("bar_end", sort=True):
        opens, highs, lows = (dict(zip(bar["symbol"], bar[c], strict=True)) for c in ("open", "high", "low"))
        current, bar_fills, bar_exits = manage_positions(current, session, opens, highs, lows, costs)
        fills.extend(bar_fills)
        exits.extend(bar_exits)
        exit_times.update({o.client_order_id: pd.Timestamp(bar_end) for o in bar_exits})
        current = _ratchet(current, highs, dict(zip(bar["symbol"], bar["close"], strict=True)))
    return IntradayResult(
        state=replace(current, pending=pending),
        exits=tuple(exits),
        fills=tuple(fills),
        exit_times=exit_times,
        bars_seen=int(ordered["bar_end"].nunique()),
    )


def _ratchet(state: BookState, highs: Mapping[str, float], closes: Mapping[str, float]) -> BookState:
    """Raise each position's high-water mark to the bar's high and mark it at the bar's close."""
    positions = dict(state.positions)
    changed = False
    for symbol, position in state.positions.items():
        if symbol not in highs:
            continue
        top = highs[symbol] if position.high_water is None else max(position.high_water, highs[symbol])
        positions[symbol] = replace(position, high_water=top, last_price=closes[symbol])
        changed = True
    return replace(state, positions=positions, equity=compute_equity(state.cash, positions)) if changed else state


# --- the price-move rule ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceMove:
    symbol: str
    session: date
    previous_close: float
    price: float
    as_of: pd.Timestamp

    @property
    def move(self) -> float:
        return self.price / self.previous_close - 1.0

    def describe(self) -> str:
        return f"{self.move:+.2%}"


def price_moves(
    session: date,
    prices: Mapping[str, float],
    previous_closes: Mapping[str, float],
    as_of: datetime | pd.Timestamp,
    threshold: float = DEFAULT_MOVE_THRESHOLD,
) -> list[PriceMove]:
    """The symbols whose price has moved at least ``threshold`` (either way) from the previous close.

    A symbol without a previous close or a price is not judged (it cannot move "from" nothing); a
    non-positive or non-finite price is an error, not a move.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    moves = []
    for symbol in sorted(set(prices) & set(previous_closes)):
        price, previous = prices[symbol], previous_closes[symbol]
        for name, value in (("price", price), ("previous close", previous)):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{symbol}: {name} must be a positive number, got {value!r}")
        candidate = PriceMove(symbol, session, float(previous), float(price), pd.Timestamp(as_of))
        # Rounded to a hundredth of a basis point so that a move of exactly the threshold counts.
        if round(abs(candidate.move), 8) >= threshold:
            moves.append(candidate)
    return moves


def tick_times(session: date, minutes: int = 15) -> list[pd.Timestamp]:
    """The ends of the session's ``minutes`` bars (UTC): when the intraday cycle has a new bar to act on."""
    opening, close = session_hours(session)
    step = timedelta(minutes=minutes)
    ticks, moment = [], opening + step
    while moment <= close:
        ticks.append(moment)
        moment += step
    return ticks
