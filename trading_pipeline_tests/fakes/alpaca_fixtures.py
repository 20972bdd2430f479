"""Fixtures shared by the Alpaca tests: a running sandbox (trading_pipeline.sandbox) and settings pointing at it."""

from __future__ import annotations

import uuid
from datetime import datetime

import pandas as pd
import pytest

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.domain.bars import load_bars_file
from trading_pipeline.integrations.alpaca_client import AlpacaSettings, RetryPolicy
from trading_pipeline.sandbox.alpaca_server import API_KEY_PREFIX, NEW_YORK, SECRET_KEY, AlpacaSandbox

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)
# After the close and after 19:00, when Alpaca takes opg and cls orders for the next session's auctions.
EVENING = datetime(2012, 6, 1, 19, 30, tzinfo=NEW_YORK)


def sample_bars(symbols: list[str], start: str, end: str) -> pd.DataFrame:
    """The bundled bars of ``symbols`` with start <= date <= end."""
    frame = load_bars_file(SAMPLE_BARS)
    days = pd.to_datetime(frame["date"])
    keep = frame["symbol"].isin(symbols) & (days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))
    return frame[keep].reset_index(drop=True)


@pytest.fixture
def alpaca_server():
    """AAPL, IBM and MSFT for May-June 2012 (all served whatever the clock), HALT halted; the clock at EVENING."""
    bars = sample_bars(["AAPL", "IBM", "MSFT"], "2012-05-01", "2012-06-29")
    with AlpacaSandbox(bars=bars, now=EVENING, halted=("HALT",), serve_future_bars=True) as server:
        yield server


def fresh_key() -> str:
    """A key id of its own: the process-wide limiter is per account, so tests do not share a window."""
    return f"{API_KEY_PREFIX}{uuid.uuid4().hex[:14].upper()}"


def settings_for(server: AlpacaSandbox, **overrides) -> AlpacaSettings:
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
