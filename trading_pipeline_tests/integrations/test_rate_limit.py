"""The sliding-window limiter: never more than N requests in any window, shared per account, thread-safe."""

import threading
from collections import deque

import pytest

from trading_pipeline.integrations.rate_limit import SlidingWindowRateLimiter, account_key, shared_limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_window_slides_rather_than_resetting():
    clock = FakeClock()
    limiter = SlidingWindowRateLimiter(3, 60.0, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(3):
        assert limiter.acquire() == 0.0
        sent.append(clock.now)
        clock.now += 10.0  # requests at t=0, 10, 20
    assert limiter.acquire() == pytest.approx(30.0)  # at t=30 the window is full until the first leaves at t=60
    assert clock.now == pytest.approx(1060.0)
    assert limiter.acquire() == pytest.approx(10.0)  # the second leaves at t=70
    assert limiter.in_window() == 3


def test_two_hundred_per_minute_from_many_threads_never_exceed_the_window():
    limiter = SlidingWindowRateLimiter(200, 0.5)  # Alpaca's 200 per minute, in a half-second window
    stamps: list[float] = []

    class Recording(deque):
        """The limiter's own send times, recorded under its lock as it grants each slot."""

        def append(self, value: float) -> None:
            super().append(value)
            stamps.append(value)

    limiter._sent = Recording()

    def worker() -> None:
        for _ in range(60):
            limiter.acquire()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 480
    # Any 201 consecutive grants span at least one window: never 201 inside 0.5 s.
    spans = [stamps[i + 200] - stamps[i] for i in range(len(stamps) - 200)]
    assert min(spans) >= 0.5
    assert limiter.waited_s > 0


def test_one_limiter_per_account_and_no_second_set_of_limits():
    a = shared_limiter("PKACCOUNT-A", 200, 60.0)
    assert shared_limiter("PKACCOUNT-A", 200, 60.0) is a
    assert shared_limiter("PKACCOUNT-B", 200, 60.0) is not a
    with pytest.raises(ValueError, match="already has a limiter of 200 requests"):
        shared_limiter("PKACCOUNT-A", 100, 60.0)
    assert "PKACCOUNT" not in account_key("PKACCOUNT-A")  # the registry never keeps the key itself


def test_bad_limits_are_refused():
    with pytest.raises(ValueError):
        SlidingWindowRateLimiter(0, 60.0)
    with pytest.raises(ValueError):
        SlidingWindowRateLimiter(10, 0)
