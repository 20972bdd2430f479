"""Alpaca bars through the real alpaca-py client against the local server: paging, retries, rate limit, cache."""

import time
from datetime import date, datetime

import pandas as pd
import pytest

from trading_pipeline.integrations.alpaca_client import (
    AlpacaRequestError,
    GovernedDataClient,
    GovernedTradingClient,
    RetryPolicy,
)
from trading_pipeline.integrations.alpaca_data import NEW_YORK, fetch_daily_bars, fetch_intraday_bars
from trading_pipeline.integrations.bar_cache import BarCache
from trading_pipeline.sandbox.alpaca_server import AlpacaSandbox, Scripted
from trading_pipeline_tests.fakes.alpaca_fixtures import alpaca_server, sample_bars, settings_for  # noqa: F401

START, END = date(2012, 5, 1), date(2012, 6, 29)


def test_daily_bars_page_through_and_match_the_served_data(alpaca_server):
    alpaca_server.page_size = 25  # 3 symbols x 43 sessions: six pages
    settings = settings_for(alpaca_server)
    client = GovernedDataClient(settings)
    got = fetch_daily_bars(client, ["aapl", "IBM", "MSFT", "NOPE"], START, END)
    assert got.missing == {"NOPE": "no bars in the requested range"}
    expected = sample_bars(["AAPL", "IBM", "MSFT"], "2012-05-01", "2012-06-29")
    pd.testing.assert_frame_equal(
        got.bars, expected.sort_values(["symbol", "date"], ignore_index=True), check_dtype=False
    )
    assert got.bars["date"].dtype == "datetime64[ns]"  # session dates, not New York timestamps
    bars_requests = [q for m, p, q, _ in alpaca_server.requests if p == "/v2/stocks/bars"]
    assert len(bars_requests) == 6
    assert {q["feed"] for q in bars_requests} == {"iex"} and {q["adjustment"] for q in bars_requests} == {"all"}
    assert client._limiter.in_window() == 6  # every page took a rate-limit slot
    trading = GovernedTradingClient(settings)
    assert trading._limiter is client._limiter  # one window per account, data and trading together


def test_429_then_success_is_retried_once_honouring_retry_after(alpaca_server):
    alpaca_server.script(
        "GET",
        "/v2/stocks/bars",
        Scripted(429, {"code": 42910000, "message": "too many requests"}, {"Retry-After": "0.2"}),
    )
    client = GovernedDataClient(settings_for(alpaca_server))
    began = time.monotonic()
    got = fetch_daily_bars(client, ["AAPL"], START, END)
    assert len(got.bars) == len(sample_bars(["AAPL"], "2012-05-01", "2012-06-29")) == 43
    assert alpaca_server.count("GET", "/v2/stocks/bars") == 2  # ours alone: alpaca-py's own loop is off
    assert time.monotonic() - began >= 0.2
    assert client.retries == 1  # our loop retried (alpaca-py would have slept 3 s and hidden it)


def test_persistent_5xx_gives_a_clear_error_after_the_configured_attempts(alpaca_server):
    failure = Scripted(503, {"code": 50310000, "message": "service unavailable"})
    alpaca_server.script("GET", "/v2/stocks/bars", failure, failure, failure, failure)
    settings = settings_for(alpaca_server, retry=RetryPolicy(max_attempts=3, base_delay_s=0.01))
    began = time.monotonic()
    with pytest.raises(
        AlpacaRequestError, match=r"GET /stocks/bars: HTTP 503: service unavailable after 3 attempts"
    ) as err:
        fetch_daily_bars(GovernedDataClient(settings), ["AAPL"], START, END)
    assert time.monotonic() - began < 5  # three quick attempts with millisecond backoff
    assert alpaca_server.count("GET", "/v2/stocks/bars") == 3
    assert settings.api_key not in str(err.value) and settings.secret_key not in str(err.value)


def test_a_refused_key_is_not_retried(alpaca_server):
    settings = settings_for(alpaca_server, api_key="AKWRONGKEY")
    with pytest.raises(AlpacaRequestError, match="HTTP 401: request is not authorized") as err:
        fetch_daily_bars(GovernedDataClient(settings), ["AAPL"], START, END)
    assert alpaca_server.count("GET", "/v2/stocks/bars") == 1
    assert "AKWRONGKEY" not in str(err.value)


def test_an_unreachable_server_fails_fast_after_the_retries():
    with AlpacaSandbox() as closed:
        url = closed.url
    settings = settings_for(closed, retry=RetryPolicy(max_attempts=2, base_delay_s=0.01), timeout_s=1.0)
    assert settings.data_url == url
    began = time.monotonic()
    with pytest.raises(AlpacaRequestError, match="no response: ConnectionError"):
        fetch_daily_bars(GovernedDataClient(settings), ["AAPL"], START, END)
    assert time.monotonic() - began < 5


def test_cached_bars_need_no_request(alpaca_server, tmp_path):
    client = GovernedDataClient(settings_for(alpaca_server))
    cache = BarCache(tmp_path, ttl_s=3600)
    first = fetch_daily_bars(client, ["AAPL", "IBM"], START, END, cache=cache)
    second = fetch_daily_bars(client, ["AAPL", "IBM"], START, END, cache=cache)
    assert alpaca_server.count("GET", "/v2/stocks/bars") == 1
    assert second.cache_hits == 2
    pd.testing.assert_frame_equal(first.bars, second.bars)


def test_intraday_bars_are_new_york_timestamps(alpaca_server):
    stamps = pd.date_range("2012-06-01 09:30", periods=4, freq="15min", tz=NEW_YORK)
    alpaca_server.intraday = pd.DataFrame(
        {
            "timestamp": stamps.tz_convert("UTC"),
            "symbol": "AAPL",
            "open": 1.0,
            "high": 2.0,
            "low": 0.5,
            "close": 1.5,
            "volume": 100.0,
        }
    )
    client = GovernedDataClient(settings_for(alpaca_server))
    got = fetch_intraday_bars(
        client,
        ["AAPL"],
        datetime(2012, 6, 1, 9, 0, tzinfo=NEW_YORK),
        datetime(2012, 6, 1, 16, 0, tzinfo=NEW_YORK),
        minutes=15,
    )
    assert list(got["timestamp"]) == list(stamps)
    (_, _, query, _) = [r for r in alpaca_server.requests if r[1] == "/v2/stocks/bars"][-1]
    assert query["timeframe"] == "15Min"
