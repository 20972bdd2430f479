"""yfinance daily bars (split- and dividend-adjusted), failing fast when Yahoo cannot be reached.

yfinance keeps one process-wide session; every call here passes the provider's own curl_cffi session
(with its timeout and optional proxy) and holds a lock, so concurrent callers cannot mix settings. The
first network failure stops the whole fetch at once with a clear message: the other symbols would wait
on the same dead network, and the fallback chain serves them instead.

Two pieces of yfinance's process-wide state would otherwise turn an unreachable Yahoo into "missing symbols" after a
while: its timezone lookup swallows network errors (``config.debug.hide_exceptions``) and falls back to a second
lookup only twice per process, after which every symbol reads "possibly delisted; no timezone found". While the lock is
held, exceptions are not hidden, so every network failure is one, however many came before; and the session caps every
request's timeout, because the timezone lookup asks for 10 s whatever it is given.
"""

from __future__ import annotations

import threading
import time as clock
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from trading_pipeline.domain.schema import OHLCV
from trading_pipeline.integrations.bar_cache import BarCache
from trading_pipeline.integrations.fetch import ProviderBars, empty_bars, fetch_with_cache

if TYPE_CHECKING:
    from curl_cffi import requests as curl_requests

_LOCK = threading.Lock()


class YFinanceUnavailable(RuntimeError):
    """Yahoo Finance could not be reached (offline, DNS, proxy, timeout or rate limit)."""


def _session(timeout_s: float, proxy: str | None) -> curl_requests.Session:
    from curl_cffi import requests as curl_requests

    class CappedSession(curl_requests.Session):
        """No request waits longer than the provider's timeout, whatever yfinance asks for."""

        def request(self, *args, timeout=None, **kwargs):
            return super().request(*args, timeout=min(timeout or timeout_s, timeout_s), **kwargs)

    proxies = {"http": proxy, "https": proxy} if proxy else None
    return CappedSession(impersonate="chrome", timeout=timeout_s, proxies=proxies)


@contextmanager
def _exceptions_shown(yf) -> Iterator[None]:
    """yfinance's lookups raise their network errors instead of logging them and answering "no timezone"."""
    hidden = yf.config.debug.hide_exceptions
    yf.config.debug.hide_exceptions = False
    try:
        yield
    finally:
        yf.config.debug.hide_exceptions = hidden


def fetch_daily_bars(
    symbols: Sequence[str],
    start: date,
    end: date,
    timeout_s: float = 5.0,
    proxy: str | None = None,
    cache: BarCache | None = None,
) -> ProviderBars:
    """Daily bars with start <= session <= end; an unknown symbol is reported missing, not raised."""
    request = {
        "provider": "yfinance",
        "timeframe": "1d",
        "adjustment": "auto",
        "start": start.isoformat(),
        "end": end.isoformat(),
    }

    def fetch(todo: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
        # yfinance and curl_cffi cost ~0.3 s of every start-up: imported when Yahoo is actually asked.
        import yfinance as yf
        from curl_cffi import requests as curl_requests
        from yfinance.exceptions import YFRateLimitError, YFTickerMissingError

        session = _session(timeout_s, proxy)
        frames, missing = [], {}
        began = clock.monotonic()
        with _LOCK, _exceptions_shown(yf), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # raise_errors: the per-call switch we want
            for symbol in todo:
                try:
                    history = yf.Ticker(symbol, session=session).history(
                        start=start.isoformat(),
                        end=(end + timedelta(days=1)).isoformat(),
                        interval="1d",
                        auto_adjust=True,
                        timeout=timeout_s,
                        raise_errors=True,
                    )
                except YFTickerMissingError as exc:
                    missing[symbol] = f"yfinance: {exc}"
                    continue
                except YFRateLimitError as exc:
                    raise YFinanceUnavailable(f"yfinance: rate limited by Yahoo Finance ({exc})") from None
                except (curl_requests.exceptions.RequestException, OSError) as exc:
                    raise YFinanceUnavailable(
                        f"yfinance: Yahoo Finance unreachable after {clock.monotonic() - began:.1f} s "
                        f"(offline, DNS or proxy failure?): {type(exc).__name__}: {str(exc)[:200]}"
                    ) from None
                if len(history):
                    frames.append(_to_bars(symbol, history))
        return (pd.concat(frames, ignore_index=True) if frames else empty_bars()), missing

    return fetch_with_cache([s.upper() for s in symbols], request, cache, fetch)


def _to_bars(symbol: str, history: pd.DataFrame) -> pd.DataFrame:
    index = pd.DatetimeIndex(history.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    frame = pd.DataFrame(
        {
            "date": index.normalize().astype("datetime64[ns]"),
            "symbol": symbol,
            **{c: history[c.capitalize()].to_numpy(dtype="float64") for c in OHLCV},
        }
    )
    return frame
