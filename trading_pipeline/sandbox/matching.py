"""Where an order executes against a daily bar: at the opening print, inside the bar, or in the closing auction.

The sandbox knows daily bars only, so a session is three moments: the open, the unknown path between
``low`` and ``high``, and the close. Gaps are honoured as the simulator honours them (a stop the open
gapped through fills at the open, a stop touched inside the bar fills at its stop price); a limit touched
inside the bar fills at its limit. A trailing stop's stop trails the high-water mark it had before the
bar, and the mark then ratchets to the bar's high, so it tightens from the next session on (the
conservative reading of a daily bar, as in ``domain.intraday``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["buy", "sell"]


@dataclass(frozen=True)
class Bar:
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True)
class Terms:
    """What matters about an order for its price: its type, side and (effective) prices."""

    type: str
    side: Side
    limit_price: float | None = None
    stop_price: float | None = None  # for a trailing stop: the stop its high-water mark sets now
    triggered: bool = False  # a stop_limit whose stop has been reached works as a limit order


@dataclass(frozen=True)
class Match:
    """A fill at ``price`` (None: no fill), and whether a stop_limit's stop was reached on the way."""

    price: float | None
    triggered: bool = False


def _limit_allows(side: Side, price: float, limit: float) -> bool:
    """A buy pays at most its limit, a sell receives at least its limit."""
    return price <= limit if side == "buy" else price >= limit


def _stop_reached(side: Side, price: float, stop: float) -> bool:
    """A sell stop fires when the price falls to it, a buy stop when it rises to it."""
    return price <= stop if side == "sell" else price >= stop


def at_open(terms: Terms, opening: float) -> Match:
    """The order meets the opening print: market fills; a limit, stop or stop-limit fills if the open allows."""
    if terms.type == "market":
        return Match(opening)
    if terms.type == "limit" or (terms.type == "stop_limit" and terms.triggered):
        return Match(opening if _limit_allows(terms.side, opening, _required(terms.limit_price)) else None)
    stop = _required(terms.stop_price)
    if not _stop_reached(terms.side, opening, stop):
        return Match(None)
    if terms.type == "stop_limit":
        allowed = _limit_allows(terms.side, opening, _required(terms.limit_price))
        return Match(opening if allowed else None, triggered=True)
    return Match(opening)  # stop, trailing_stop: gapped through, filled at the open


def in_bar(terms: Terms, bar: Bar) -> Match:
    """The order meets the bar's range after the open: levels touched fill at the level, a market order at the close.

    A market order still working here became executable during the session (submitted after the open,
    or the remainder of a partial fill): the close is the first price the sandbox can give it.
    """
    if terms.type == "market":
        return Match(bar.close)
    if terms.type == "limit" or (terms.type == "stop_limit" and terms.triggered):
        limit = _required(terms.limit_price)
        touched = bar.low <= limit if terms.side == "buy" else bar.high >= limit
        return Match(limit if touched else None)
    stop = _required(terms.stop_price)
    extreme = bar.low if terms.side == "sell" else bar.high
    if not _stop_reached(terms.side, extreme, stop):
        return Match(None)
    if terms.type == "stop_limit":  # the price is at the stop when it fires: fills there if the limit allows
        return Match(stop if _limit_allows(terms.side, stop, _required(terms.limit_price)) else None, triggered=True)
    return Match(stop)


def at_close(terms: Terms, closing: float) -> Match:
    """A market-on-close or limit-on-close order in the closing auction."""
    if terms.type == "market":
        return Match(closing)
    return Match(closing if _limit_allows(terms.side, closing, _required(terms.limit_price)) else None)


def trailing_stop(side: Side, hwm: float, trail_price: float | None, trail_percent: float | None) -> float:
    """The stop a trailing stop's high-water mark (the low-water mark for a buy) sets."""
    if (trail_price is None) == (trail_percent is None):
        raise ValueError("a trailing stop needs exactly one of trail_price, trail_percent")
    if trail_price is not None:
        return hwm - trail_price if side == "sell" else hwm + trail_price
    assert trail_percent is not None
    return hwm * (1 - trail_percent / 100) if side == "sell" else hwm * (1 + trail_percent / 100)


def ratchet(side: Side, hwm: float, seen: Bar | float) -> float:
    """The high-water mark after prices ``seen`` (a sell trails the highs, a buy the lows)."""
    if isinstance(seen, Bar):
        return max(hwm, seen.high) if side == "sell" else min(hwm, seen.low)
    return max(hwm, seen) if side == "sell" else min(hwm, seen)


def _required(value: float | None) -> float:
    if value is None:
        raise ValueError("order is missing the price its type needs")
    return value
