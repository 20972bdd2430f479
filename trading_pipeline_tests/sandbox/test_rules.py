"""Alpaca's time windows for auction orders, and where a bracket's exits may sit."""

from datetime import datetime

import pytest

from trading_pipeline.sandbox.orders import parse_order_request
from trading_pipeline.sandbox.rules import check_auction_window, check_exit_prices
from trading_pipeline.sandbox.wire import ApiError
from trading_pipeline_tests.fakes.alpaca_fixtures import NEW_YORK


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("tif", "moment", "refused"),
    [
        ("opg", "2012-11-21 09:27", False),
        ("opg", "2012-11-21 09:28", True),
        ("opg", "2012-11-21 16:15", True),  # after the close but before 19:00: the daily cycle's usual time
        ("opg", "2012-11-21 19:00", False),
        ("opg", "2012-11-22 12:00", False),  # Thanksgiving: no session, no window
        ("cls", "2012-11-21 15:49", False),
        ("cls", "2012-11-21 15:50", True),
        ("cls", "2012-11-23 12:50", True),  # an early close (13:00) moves the cutoff
        ("cls", "2012-11-23 12:49", False),
        ("day", "2012-11-21 16:15", False),
    ],
)
def test_auction_orders_have_their_windows(tif, moment, refused):
    if refused:
        with pytest.raises(ApiError, match=f"{tif} orders must be submitted after 7:00pm and before"):
            check_auction_window(tif, at(moment))
    else:
        check_auction_window(tif, at(moment))


def order(side: str, order_class: str, take: float, stop: float, limit: float | None = None):
    body = {"symbol": "X", "qty": "1", "side": side, "time_in_force": "gtc", "order_class": order_class}
    body |= {"type": "limit" if limit or order_class == "oco" else "market", "limit_price": limit}
    return parse_order_request(body | {"take_profit": {"limit_price": take}, "stop_loss": {"stop_price": stop}})


@pytest.mark.parametrize(
    ("request_", "mark", "message"),
    [
        (order("buy", "bracket", 110.0, 95.0), 100.0, None),
        (order("buy", "bracket", 100.0, 95.0), 100.0, "take_profit.limit_price must be >= base_price + 0.01"),
        (order("buy", "bracket", 110.0, 100.0), 100.0, "stop_loss.stop_price must be <= base_price - 0.01"),
        (
            order("buy", "bracket", 110.0, 95.0, limit=95.0),
            100.0,
            "stop_loss.stop_price must be <= base_price",
        ),  # the limit is the base
        (order("sell", "bracket", 90.0, 105.0), 100.0, None),  # a short: the target below, the stop above
        (order("sell", "oco", 110.0, 95.0), 100.0, None),  # an OCO sell protects a long, like a buy bracket's legs
        (order("sell", "oco", 95.0, 110.0), 100.0, "take_profit.limit_price must be > stop_loss.stop_price"),
    ],
)
def test_a_bracket_s_exits_lie_on_either_side_of_its_base_price(request_, mark, message):
    if message is None:
        check_exit_prices(request_, mark)
    else:
        with pytest.raises(ApiError, match=message.replace(".", r"\.").replace("+", r"\+")):
            check_exit_prices(request_, mark)
