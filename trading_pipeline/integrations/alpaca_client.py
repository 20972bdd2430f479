"""alpaca-py clients governed by the project: one rate limiter per account, a timeout, one retry loop.

Where retries live: here, and only here. alpaca-py's own loop (429 and 504 only, a fixed 3 s, three times)
is switched off because its sleeps bypass the shared rate limiter and cannot honour ``Retry-After``; this
loop retries 429, 5xx and connection errors with exponential backoff and jitter, each attempt taking a
rate-limiter slot. The Dagster steps that use these clients carry no RetryPolicy, so attempts never
multiply. A retried order submission is safe because every order carries a deterministic client_order_id
(see ``alpaca_trading.submit``).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical.news import NewsClient
from alpaca.data.historical.screener import ScreenerClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient

from trading_pipeline.integrations.rate_limit import SlidingWindowRateLimiter, shared_limiter

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a server's ``Retry-After`` wins when it is longer."""

    max_attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("delays must be non-negative and jitter within [0, 1]")

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed ``attempt`` (1-based); the server's Retry-After (up to a minute) is obeyed."""
        backoff = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        backoff *= 1 + self.jitter * (2 * rng.random() - 1)
        return max(backoff, min(retry_after or 0.0, MAX_RETRY_AFTER_S))


@dataclass(frozen=True)
class AlpacaSettings:
    """Everything a client needs; the keys are excluded from ``repr`` so they never reach a log."""

    api_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    paper: bool = True
    trading_url: str | None = None
    data_url: str | None = None
    timeout_s: float = 10.0
    retry: RetryPolicy = RetryPolicy()
    max_requests_per_minute: int = 200

    def __post_init__(self) -> None:
        if not self.api_key or not self.secret_key:
            raise ValueError("Alpaca needs both an API key and a secret key (ALPACA_API_KEY, ALPACA_SECRET_KEY)")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")

    def limiter(self) -> SlidingWindowRateLimiter:
        return shared_limiter(self.api_key, self.max_requests_per_minute, 60.0)


class AlpacaRequestError(RuntimeError):
    """A request Alpaca refused or that never got an answer, after the retries; no key in the message."""

    def __init__(self, method: str, path: str, status: int | None, code: int | None, message: str, attempts: int):
        self.method, self.path, self.status, self.code, self.message, self.attempts = (
            method,
            path,
            status,
            code,
            message,
            attempts,
        )
        where = f"HTTP {status}" if status is not None else "no response"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"Alpaca {method} {path}: {where}: {message}{tries}")

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRYABLE_STATUS


def _describe(exc: Exception) -> tuple[int | None, int | None, str, float | None]:
    """(HTTP status, Alpaca error code, message, Retry-After seconds) of an SDK or transport error."""
    if isinstance(exc, APIError):
        status = exc.status_code
        retry_after = None
        if exc.response is not None:
            header = exc.response.headers.get("Retry-After")
            try:
                retry_after = float(header) if header is not None else None
            except ValueError:
                retry_after = None
        try:
            body = json.loads(str(exc))
            code, message = body.get("code"), str(body.get("message", body))
        except (ValueError, AttributeError):
            code, message = None, (str(exc).strip() or "empty response body")[:300]
        return status, code, message, retry_after
    return None, None, f"{type(exc).__name__}: {str(exc)[:300]}", None


class _Governed:
    """Mixin for alpaca-py REST clients: every HTTP request takes a limiter slot and has a timeout."""

    _limiter: SlidingWindowRateLimiter
    _timeout_s: float
    _policy: RetryPolicy
    _sleep: Callable[[float], None]
    _rng: random.Random
    retries: int

    def _govern(self, settings: AlpacaSettings, sleep: Callable[[float], None]) -> None:
        # alpaca-py reads retry_attempts=0 as "use the default 3" and the clients do not expose the option,
        # so its loop is switched off through the attribute it reads; the loop in _request is the only one.
        self._retry = 0  # type: ignore[attr-defined]
        self._limiter = settings.limiter()
        self._timeout_s = settings.timeout_s
        self._policy = settings.retry
        self._sleep = sleep
        self._rng = random.Random()
        self.retries = 0

    def _one_request(self, method: str, url: str, opts: dict, retry: int) -> Any:
        self._limiter.acquire()
        return super()._one_request(method, url, {**opts, "timeout": self._timeout_s}, retry)  # type: ignore[misc]

    def _request(self, method: str, path: str, data: Any = None, base_url: Any = None, api_version: Any = None) -> Any:
        attempt = 1
        while True:
            try:
                return super()._request(method, path, data, base_url, api_version)  # type: ignore[misc]
            except (APIError, requests.ConnectionError, requests.Timeout) as exc:
                status, code, message, retry_after = _describe(exc)
                error = AlpacaRequestError(method, path, status, code, message, attempt)
                if not error.retryable or attempt >= self._policy.max_attempts:
                    raise error from None
                self._sleep(self._policy.delay(attempt, retry_after, self._rng))
                self.retries += 1
                attempt += 1


class GovernedTradingClient(_Governed, TradingClient):
    def __init__(self, settings: AlpacaSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(
            api_key=settings.api_key,
            secret_key=settings.secret_key,
            paper=settings.paper,
            url_override=settings.trading_url,
        )
        self._govern(settings, sleep)


class GovernedDataClient(_Governed, StockHistoricalDataClient):
    def __init__(self, settings: AlpacaSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(api_key=settings.api_key, secret_key=settings.secret_key, url_override=settings.data_url)
        self._govern(settings, sleep)


class GovernedNewsClient(_Governed, NewsClient):
    """Alpaca's news API: every page of a paged request takes a slot of the account's limiter."""

    def __init__(self, settings: AlpacaSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(api_key=settings.api_key, secret_key=settings.secret_key, url_override=settings.data_url)
        self._govern(settings, sleep)


MOST_ACTIVES_LIMIT = 100  # Alpaca's screener answers at most this many most active stocks


class GovernedScreenerClient(_Governed, ScreenerClient):
    """Alpaca's screener (most active stocks), through the account's limiter and retries."""

    def __init__(self, settings: AlpacaSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(api_key=settings.api_key, secret_key=settings.secret_key, url_override=settings.data_url)
        self._govern(settings, sleep)
