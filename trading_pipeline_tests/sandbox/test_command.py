"""``python -m trading_pipeline.sandbox`` on its own: started as a process, traded with alpaca-py, stopped."""

import os
import sys
import time
from datetime import date

import pytest
import requests
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import MarketOrderRequest

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.domain import calendar
from trading_pipeline.domain.bars import load_bars_file
from trading_pipeline.sandbox.alpaca_server import API_KEY, NEW_YORK, SECRET_KEY
from trading_pipeline.sandbox.command import main
from trading_pipeline_tests.processes import REPO, background, free_port, tail


def wait_until_it_answers(url: str, process, log) -> dict:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the sandbox exited:\n{tail([log])}")
        try:
            return requests.get(f"{url}/sandbox/clock", timeout=2).json()
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail(f"the sandbox did not answer within 90 s:\n{tail([log])}")


def test_the_sandbox_serves_re_dated_bundled_bars_and_fills_an_order_at_the_re_dated_open(tmp_path):
    today, runway, port = date(2026, 12, 4), 3, free_port()
    url, log = f"http://127.0.0.1:{port}", tmp_path / "sandbox.log"
    command = [sys.executable, "-m", "trading_pipeline.sandbox", "--port", str(port), "--today", str(today)]
    with background([*command, "--runway", str(runway)], log, os.environ, REPO) as process:
        started = wait_until_it_answers(url, process, log)
        client = TradingClient(API_KEY, SECRET_KEY, url_override=url)
        placed = client.submit_order(MarketOrderRequest(symbol="AAPL", qty=7, side="buy", time_in_force="day"))
        moved = requests.post(f"{url}/sandbox/clock", json={"advance": "next_open"}, timeout=10).json()
        filled = client.get_order_by_id(placed.id)
        banner = log.read_text()
    assert process.returncode == 0 and "sandbox stopped" in log.read_text()
    assert url in banner and API_KEY in banner and SECRET_KEY in banner

    # The clock started at the close of the session `runway` sessions before `today`; the order filled at
    # the next open, whose bar is the bundle's session `runway - 1` before its last one.
    start_session = calendar.session_offset(today, -runway).date()
    assert started["clock"]["timestamp"].startswith(f"{start_session}T16:00:00")
    fill_session = calendar.session_offset(today, -(runway - 1)).date()
    assert moved["clock"]["timestamp"].startswith(f"{fill_session}T09:30:00")
    bundle = load_bars_file(SAMPLE_BARS)
    bundled_day = sorted(bundle["date"].unique())[-runway]
    expected = bundle[(bundle["symbol"] == "AAPL") & (bundle["date"] == bundled_day)]["open"].iloc[0]
    assert filled.status == "filled" and float(filled.filled_avg_price) == pytest.approx(expected)
    assert filled.filled_at.astimezone(NEW_YORK).date() == fill_session


def test_a_runway_longer_than_the_bundle_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--port", "0", "--today", "2026-12-04", "--runway", "99999"])
    assert "runway must be in [0, 3269] sessions" in capsys.readouterr().err
