"""Where an order meets a daily bar: gaps at the open, touches inside the bar, the closing auction, trailing stops."""

import pytest

from trading_pipeline.sandbox.matching import Bar, Terms, at_close, at_open, in_bar, ratchet, trailing_stop

BAR = Bar(open=100.0, high=104.0, low=97.0, close=101.0)


@pytest.mark.parametrize(
    ("terms", "opening", "price"),
    [
        (Terms("market", "buy"), 100.0, 100.0),
        (Terms("limit", "buy", limit_price=101.0), 100.0, 100.0),  # better than the limit: the open
        (Terms("limit", "buy", limit_price=99.0), 100.0, None),
        (Terms("limit", "sell", limit_price=99.0), 100.0, 100.0),
        (Terms("stop", "sell", stop_price=102.0), 100.0, 100.0),  # gapped through: the open, not the stop
        (Terms("stop", "sell", stop_price=98.0), 100.0, None),
        (Terms("stop", "buy", stop_price=99.0), 100.0, 100.0),
        (Terms("stop_limit", "sell", limit_price=99.5, stop_price=102.0), 100.0, 100.0),
        (Terms("stop_limit", "sell", limit_price=101.0, stop_price=102.0), 100.0, None),  # triggered, limit unmet
    ],
)
def test_the_opening_print(terms, opening, price):
    assert at_open(terms, opening).price == price


def test_a_stop_limit_gapped_past_its_limit_is_triggered_and_rests_as_a_limit():
    terms = Terms("stop_limit", "sell", limit_price=101.0, stop_price=102.0)
    assert at_open(terms, 100.0).triggered
    rested = Terms("stop_limit", "sell", limit_price=101.0, stop_price=102.0, triggered=True)
    assert in_bar(rested, BAR).price == 101.0  # the high (104) came back to the limit


@pytest.mark.parametrize(
    ("terms", "price"),
    [
        (Terms("market", "buy"), 101.0),  # working since inside the session: the close
        (Terms("limit", "buy", limit_price=98.0), 98.0),  # touched: at the limit
        (Terms("limit", "buy", limit_price=96.0), None),
        (Terms("limit", "sell", limit_price=103.5), 103.5),
        (Terms("stop", "sell", stop_price=97.5), 97.5),  # touched: at the stop
        (Terms("stop", "sell", stop_price=96.5), None),
        (Terms("stop", "buy", stop_price=104.0), 104.0),
        (Terms("stop_limit", "sell", limit_price=97.0, stop_price=98.0), 98.0),
        (Terms("stop_limit", "sell", limit_price=99.0, stop_price=98.0), None),  # limit above the stop: unmet
    ],
)
def test_inside_the_bar(terms, price):
    assert in_bar(terms, BAR).price == price


def test_the_closing_auction():
    assert at_close(Terms("market", "sell"), 101.0).price == 101.0
    assert at_close(Terms("limit", "buy", limit_price=100.0), 101.0).price is None
    assert at_close(Terms("limit", "buy", limit_price=101.5), 101.0).price == 101.0


def test_trailing_stops_trail_the_high_for_a_sell_and_the_low_for_a_buy():
    assert trailing_stop("sell", 200.0, None, 5.0) == pytest.approx(190.0)
    assert trailing_stop("sell", 200.0, 3.0, None) == 197.0
    assert trailing_stop("buy", 200.0, None, 5.0) == pytest.approx(210.0)
    assert ratchet("sell", 103.0, BAR) == 104.0 and ratchet("sell", 105.0, BAR) == 105.0
    assert ratchet("buy", 98.0, BAR) == 97.0 and ratchet("sell", 99.0, 100.0) == 100.0
    with pytest.raises(ValueError, match="exactly one of trail_price, trail_percent"):
        trailing_stop("sell", 200.0, 3.0, 5.0)
