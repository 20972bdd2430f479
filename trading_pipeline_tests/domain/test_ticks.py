import math
import random
from fractions import Fraction

import pytest

from trading_pipeline.domain.ticks import is_on_tick, round_to_tick, tick_size


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        (23.0075, "sell", 23.01),  # half a tick: a take-profit or protective stop goes up
        (23.0075, "buy", 23.00),  # and a buy limit down, whatever binary 23.0075 is
        (23.0001, "sell", 23.01),
        (23.0099, "buy", 23.00),
        (150.125, "buy", 150.12),
        (150.125, "sell", 150.13),
        (0.123456, "buy", 0.1234),  # sub-dollar: four decimals
        (0.123456, "sell", 0.1235),
        (0.00015, "buy", 0.0001),
        (0.00015, "sell", 0.0002),
    ],
)
def test_rounds_down_for_a_buy_and_up_for_a_sell(price, side, expected):
    assert round_to_tick(price, side) == expected


@pytest.mark.parametrize("price", [98.26, 0.1234, 1.0, 0.0001, 5000.0, 12.3])
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_price_on_the_tick_stays(price, side):
    assert round_to_tick(price, side) == price


@pytest.mark.parametrize(
    ("noisy", "on_tick"),
    [
        (98.25999999999, 98.26),
        (98.26000000001, 98.26),
        (0.1 + 0.2, 0.3),  # 0.30000000000000004
        (3 * 0.0001, 0.0003),  # 0.00030000000000000003
        (0.99999999999, 1.0),
        (1.00000000001, 1.0),
    ],
)
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_float_noise_never_moves_a_price_a_whole_tick(noisy, on_tick, side):
    assert noisy != on_tick
    assert round_to_tick(noisy, side) == on_tick
    assert is_on_tick(noisy)


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        (0.99995, "buy", 0.9999),
        (0.99995, "sell", 1.00),  # the sub-penny grid reaches $1.00, which is on the cent grid too
        (0.9999, "sell", 0.9999),
        (1.004, "buy", 1.00),
        (1.004, "sell", 1.01),
        (1.0, "buy", 1.0),
    ],
)
def test_near_the_one_dollar_boundary(price, side, expected):
    assert round_to_tick(price, side) == expected


def test_tick_size_by_price():
    assert tick_size(1.0) == 0.01
    assert tick_size(250.0) == 0.01
    assert tick_size(0.9999) == 0.0001
    assert tick_size(0.05) == 0.0001


@pytest.mark.parametrize("price", [98.26, 0.1234, 1.0, 23.01, 0.0001])
def test_is_on_tick(price):
    assert is_on_tick(price)


@pytest.mark.parametrize("price", [23.0075, 0.123456, 1.005, 0.12345, 98.261])
def test_is_off_tick(price):
    assert not is_on_tick(price)


def test_agrees_with_exact_integer_arithmetic_on_random_prices():
    """Prices of up to six decimals: the expected tick is found with exact fractions, not with Decimal or repr."""
    rng = random.Random(612)
    for _ in range(5000):
        exact = Fraction(rng.randrange(100, 500_000_000), 1_000_000)  # $0.0001 .. $500 in millionths
        tick = Fraction(1, 100) if exact >= 1 else Fraction(1, 10_000)
        down = math.floor(exact / tick) * tick
        up = math.ceil(exact / tick) * tick
        price = float(exact)
        assert round_to_tick(price, "buy") == float(down)
        assert round_to_tick(price, "sell") == float(up)
        assert is_on_tick(price) == (down == exact)


def test_a_rounded_price_is_on_its_tick_and_on_the_safe_side():
    rng = random.Random(16)
    for _ in range(5000):
        price = rng.uniform(0.001, 2.0) if rng.random() < 0.5 else rng.uniform(2.0, 3000.0)
        buy, sell = round_to_tick(price, "buy"), round_to_tick(price, "sell")
        assert is_on_tick(buy) and is_on_tick(sell)
        assert buy <= price <= sell
        assert sell - buy <= tick_size(price) + 1e-12


@pytest.mark.parametrize("price", [0.0, -1.0, math.nan, math.inf])
def test_a_price_must_be_finite_and_positive(price):
    with pytest.raises(ValueError, match="finite and positive"):
        round_to_tick(price, "buy")
    with pytest.raises(ValueError, match="finite and positive"):
        is_on_tick(price)


def test_a_buy_below_the_smallest_tick_is_an_error():
    with pytest.raises(ValueError, match="rounds to 0"):
        round_to_tick(0.00005, "buy")
    assert round_to_tick(0.00005, "sell") == 0.0001


def test_side_must_be_buy_or_sell():
    with pytest.raises(ValueError, match="side must be"):
        round_to_tick(10.0, "hold")
