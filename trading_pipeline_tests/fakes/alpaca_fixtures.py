"""Fixtures shared by the Alpaca tests: a running fake server and settings pointing at it."""

from __future__ import annotations

import uuid

import pytest

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.domain.bars import load_bars_file
from trading_pipeline.integrations.alpaca_client import AlpacaSettings, RetryPolicy
from trading_pipeline_tests.fakes.alpaca_server import API_KEY_PREFIX, SECRET_KEY, FakeAlpaca, bars_for

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)


def sample_bars(symbols: list[str], start: str, end: str):
    return bars_for(load_bars_file(SAMPLE_BARS), symbols, start, end)


@pytest.fixture
def alpaca_server():
    bars = sample_bars(["AAPL", "IBM", "MSFT"], "2012-05-01", "2012-06-29")
    last = bars.sort_values("date").groupby("symbol")["close"].last().to_dict()
    with FakeAlpaca(bars=bars, prices=last, halted=("HALT",)) as server:
        server.assets["HALT"] = "active"
        yield server


def fresh_key() -> str:
    """A key id of its own: the process-wide limiter is per account, so tests do not share a window."""
    return f"{API_KEY_PREFIX}{uuid.uuid4().hex[:14].upper()}"


def settings_for(server: FakeAlpaca, **overrides) -> AlpacaSettings:
    """Each test its own account key, so the process-wide per-account limiter does not carry between tests."""
    return AlpacaSettings(
        api_key=overrides.pop("api_key", fresh_key()),
        secret_key=SECRET_KEY,
        trading_url=server.url,
        data_url=server.url,
        retry=overrides.pop("retry", FAST_RETRY),
        timeout_s=overrides.pop("timeout_s", 5.0),
        **overrides,
    )
