"""A thread-safe sliding-window rate limiter, shared by every client of one account.

Alpaca allows 200 requests per minute per account, counted across its data and trading APIs, so the
limiter is keyed by account (a hash of the key id, never the key itself) and every HTTP request of every
client of that account — each page of a paged bars request included — takes a slot before it is sent.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowRateLimiter:
    """At most ``max_requests`` in any ``period_s`` window; ``acquire`` blocks until a slot is free."""

    def __init__(
        self,
        max_requests: int,
        period_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests < 1:
            raise ValueError(f"max_requests must be at least 1, got {max_requests}")
        if period_s <= 0:
            raise ValueError(f"period_s must be positive, got {period_s}")
        self.max_requests = max_requests
        self.period_s = period_s
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def _prune(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.period_s:
            self._sent.popleft()

    def acquire(self) -> float:
        """Take a slot, sleeping (outside the lock) while the window is full; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._prune(now)
                if len(self._sent) < self.max_requests:
                    self._sent.append(now)
                    self.waited_s += waited
                    return waited
                wait = self._sent[0] + self.period_s - now
            self._sleep(wait)
            waited += wait

    def in_window(self) -> int:
        """Requests sent within the current window."""
        with self._lock:
            self._prune(self._clock())
            return len(self._sent)


_SHARED: dict[str, SlidingWindowRateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def account_key(api_key: str) -> str:
    """A stable, non-secret name for an account: a hash of its key id."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def shared_limiter(api_key: str, max_requests: int = 200, period_s: float = 60.0) -> SlidingWindowRateLimiter:
    """The one limiter of this account in this process; a second caller with other limits is refused."""
    key = account_key(api_key)
    with _SHARED_LOCK:
        limiter = _SHARED.get(key)
        if limiter is None:
            limiter = _SHARED[key] = SlidingWindowRateLimiter(max_requests, period_s)
        elif (limiter.max_requests, limiter.period_s) != (max_requests, period_s):
            raise ValueError(
                f"account {key} already has a limiter of {limiter.max_requests} requests per {limiter.period_s:g} s; "
                f"cannot also use {max_requests} per {period_s:g} s"
            )
        return limiter
