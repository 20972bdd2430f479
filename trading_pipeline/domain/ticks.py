"""Order prices on the venue's tick, rounded so that an order is never worse than what sizing assumed.

The tick of a US equity (Reg NMS Rule 612, 17 CFR 242.612, and the SEC staff's Rule 612 FAQ): no order in an
NMS stock may be accepted in an increment smaller than $0.01 if priced at or above $1.00 a share, or $0.0001
below $1.00. Alpaca rejects limit and stop prices off that grid ("Limit price >=$1.00: Max Decimals = 2",
"<$1.00: Max Decimals = 4", error 42210000; docs.alpaca.markets/docs/orders-at-alpaca). The 2024 amendment
adding a $0.005 tick for narrow-spread stocks (Release 34-101070) was stayed and its compliance deferred by
exemptive order; a price on the cent grid is on the half-cent grid too, so these prices stay valid if it comes.

The direction depends on the side only. A buy rounds down and a sell rounds up: for a limit that is the less
aggressive price (an entry pays at most, a take-profit sells for at least, what sizing assumed); for a stop it
is toward the market, so a protective sell stop fires no lower than the stop sizing computed its risk from,
and a buy stop (above the market) fires no higher.

Floats are read as the shortest decimal that round-trips (``repr``), so 23.0075 is 23.0075 exactly, half a
tick, and rounds by side; a price within :data:`SNAP_TICKS` of a tick (98.25999999999 from arithmetic noise,
or 1.00 computed as 0.99999999999) is that tick, so noise never moves a price by a whole tick.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from trading_pipeline.domain.book import Side

CENT = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")
SUB_PENNY_BELOW = Decimal("1.00")
SNAP_TICKS = Decimal("1e-6")  # float noise is ~1e-15 of the price: far below a millionth of a tick


def tick_size(price: float) -> float:
    """The minimum increment for an order at ``price``: $0.01 at or above $1.00, $0.0001 below."""
    return float(_tick(_decimal(price)))


def round_to_tick(price: float, side: Side) -> float:
    """``price`` on its tick: down for a buy (limit or stop), up for a sell (limit or stop)."""
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
    value = _decimal(price)
    tick = _tick(value)
    ticks = _snapped(value / tick)
    if ticks is None:
        ticks = (value / tick).to_integral_value(ROUND_FLOOR if side == "buy" else ROUND_CEILING)
    if ticks == 0:
        raise ValueError(f"a {side} at {price!r} rounds to 0: it is below the smallest tick ({tick})")
    return float(ticks * tick)


def is_on_tick(price: float) -> bool:
    """Whether ``price`` is a whole number of its ticks (within float noise), for auditing sent orders."""
    value = _decimal(price)
    return _snapped(value / _tick(value)) is not None


def _decimal(price: float) -> Decimal:
    number = float(price)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"an order price must be finite and positive, got {price!r}")
    return Decimal(repr(number))


def _tick(value: Decimal) -> Decimal:
    return CENT if value >= SUB_PENNY_BELOW else SUB_PENNY


def _snapped(ticks: Decimal) -> Decimal | None:
    """The whole number of ticks ``ticks`` is within float noise of, or None if it lies between two ticks."""
    nearest = ticks.to_integral_value(ROUND_HALF_EVEN)
    return nearest if abs(ticks - nearest) <= SNAP_TICKS else None
