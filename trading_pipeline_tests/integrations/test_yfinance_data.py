"""yfinance without a network: a clear error within seconds, never a hang; nothing reaches the internet.

Yahoo is reached through a proxy on a closed local port, so the test behaves the same on a machine that
is online.
"""

import socket
import time
from collections.abc import Iterator
from datetime import date

import pandas as pd
import pytest

from trading_pipeline.domain.schema import BAR_COLUMNS
from trading_pipeline.integrations.yfinance_data import YFinanceUnavailable, _to_bars, fetch_daily_bars


@pytest.fixture
def closed_proxy() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # bound then released: nothing listens there


@pytest.fixture
def silent_proxy() -> Iterator[str]:
    """A proxy that accepts connections and never answers: only a timeout ends a request."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_offline_yfinance_fails_fast_with_a_clear_message(closed_proxy):
    began = time.monotonic()
    with pytest.raises(YFinanceUnavailable, match=r"Yahoo Finance unreachable .*offline, DNS or proxy failure"):
        fetch_daily_bars(
            ["AAPL", "MSFT", "IBM"], date(2024, 1, 2), date(2024, 1, 31), timeout_s=2.0, proxy=closed_proxy
        )
    assert time.monotonic() - began < 5  # the first failure stops the fetch: not one timeout per symbol


def test_yahoo_unreachable_is_reported_as_such_however_often_it_happens_in_one_process(closed_proxy):
    """yfinance gives up its second timezone lookup after two failures per process; later symbols must still read
    "unreachable", never "possibly delisted"."""
    for symbols in (["AAPL"], ["MSFT"], ["IBM"], ["GOOG", "XOM"], ["KO"]):
        with pytest.raises(YFinanceUnavailable, match="Yahoo Finance unreachable"):
            fetch_daily_bars(symbols, date(2024, 1, 2), date(2024, 1, 31), timeout_s=2.0, proxy=closed_proxy)


def test_every_request_honours_the_configured_timeout(silent_proxy):
    """The timezone lookup asks for 10 s whatever the caller configured; the provider's timeout caps it."""
    began = time.monotonic()
    with pytest.raises(YFinanceUnavailable, match="unreachable"):
        fetch_daily_bars(["AAPL"], date(2024, 1, 2), date(2024, 1, 31), timeout_s=1.0, proxy=silent_proxy)
    assert time.monotonic() - began < 5


def test_yfinance_history_becomes_session_bars():
    """The frame yfinance returns (exchange-time index, capitalized columns, extra columns) in BAR_COLUMNS form."""
    index = pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="Date").tz_localize("America/New_York")
    history = pd.DataFrame(
        {
            "Open": [187.1, 184.2],
            "High": [188.4, 185.9],
            "Low": [183.9, 183.4],
            "Close": [185.6, 184.3],
            "Volume": [82488700, 58414500],
            "Dividends": [0.0, 0.0],
            "Stock Splits": [0.0, 0.0],
        },
        index=index,
    )
    bars = _to_bars("AAPL", history)
    assert list(bars.columns) == BAR_COLUMNS
    assert bars["date"].dtype == "datetime64[ns]" and list(bars["date"].dt.day) == [2, 3]
    assert bars["close"].tolist() == [185.6, 184.3] and set(bars["symbol"]) == {"AAPL"}
