"""Alpaca's acceptance rules that depend only on the order, its price reference and the clock."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd

from trading_pipeline.domain import calendar
from trading_pipeline.sandbox.clock import hours
from trading_pipeline.sandbox.orders import OrderRequest
from trading_pipeline.sandbox.wire import UNPROCESSABLE, ApiError

AUCTION_CUTOFFS = {"opg": timedelta(minutes=-2), "cls": timedelta(minutes=-10)}  # before the open, the close
AUCTIONS_REOPEN = timedelta(hours=19)  # opg and cls orders sent from 19:00 ET go to the next session's auction


def executable_bound(kind: str, limit_price: float | None) -> tuple[float, float]:
    """(lowest, highest) price an order may execute at: a limit bounds it, market and stop orders do not."""
    if kind in ("limit", "stop_limit") and limit_price is not None:
        return limit_price, limit_price
    return 0.0, math.inf


def check_auction_window(time_in_force: str, now: datetime) -> None:
    """Alpaca refuses opg orders from 09:28 and cls orders from 10 minutes before the close, until 19:00 ET."""
    if time_in_force not in AUCTION_CUTOFFS:
        return
    local = pd.Timestamp(now).tz_convert(calendar.EXCHANGE_TZ)
    day = local.date()
    if not calendar.is_session(day):
        return
    opening, close = hours(day)
    cutoff = (opening if time_in_force == "opg" else close) + AUCTION_CUTOFFS[time_in_force]
    if cutoff <= local < local.normalize() + AUCTIONS_REOPEN:
        raise ApiError(
            422,
            UNPROCESSABLE,
            f"{time_in_force} orders must be submitted after 7:00pm and before {cutoff:%-I:%M%p}".lower(),
        )


def check_exit_prices(request: OrderRequest, mark: float | None) -> None:
    """A complex order's take-profit and stop-loss must lie on either side of its base price (the entry's
    limit, else the last price): above and below it when they protect a long position."""
    take = request.take_profit.limit_price if request.take_profit else None
    stop = request.stop_loss.stop_price if request.stop_loss else None
    if take is None and stop is None:
        return
    # a bracket's exits are on the other side of its entry; an OCO is itself the exit pair
    long = request.side == ("sell" if request.order_class == "oco" else "buy")
    above, below = (
        ("take_profit.limit_price", "stop_loss.stop_price")
        if long
        else ("stop_loss.stop_price", "take_profit.limit_price")
    )
    high, low = (take, stop) if long else (stop, take)
    if high is not None and low is not None and high <= low:
        raise ApiError(422, UNPROCESSABLE, f"{above} must be > {below}")
    base = request.limit_price if request.order_class != "oco" and request.limit_price is not None else mark
    if base is None:
        return
    if high is not None and high < base + 0.01:
        raise ApiError(422, UNPROCESSABLE, f"{above} must be >= base_price + 0.01")
    if low is not None and low > base - 0.01:
        raise ApiError(422, UNPROCESSABLE, f"{below} must be <= base_price - 0.01")
