"""Market data providers behind one interface, and the fallback chain that records who served what."""

import socket
from datetime import date

import pandas as pd
import pytest
from dagster import build_resources

from trading_pipeline.defs.resources.market_data import (
    AlpacaMarketData,
    FallbackMarketData,
    ReplayMarketData,
    YFinanceMarketData,
)
from trading_pipeline.sandbox.alpaca_server import SECRET_KEY, AlpacaSandbox, Scripted
from trading_pipeline_tests.cycles import asset_metadata, run_cycle
from trading_pipeline_tests.fakes.alpaca_fixtures import fresh_key, sample_bars

START, END = date(2012, 6, 4), date(2012, 6, 8)


@pytest.fixture
def closed_proxy() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def server():
    """Alpaca has AAPL and IBM (not MSFT) from 2011 on."""
    with AlpacaSandbox(bars=sample_bars(["AAPL", "IBM"], "2011-01-03", "2012-12-31")) as s:
        yield s


def _alpaca(server, **config) -> AlpacaMarketData:
    return AlpacaMarketData(
        api_key=fresh_key(),
        secret_key=SECRET_KEY,
        data_url=server.url,
        max_attempts=2,
        retry_base_delay_s=0.01,
        **config,
    )


def test_yfinance_offline_falls_back_to_the_replay(closed_proxy):
    chain = FallbackMarketData(
        symbols=["AAPL", "IBM"], yfinance=YFinanceMarketData(proxy=closed_proxy, timeout_s=2), replay=ReplayMarketData()
    )
    delivery = chain.deliver(START, END)
    replay = ReplayMarketData(symbols=["AAPL", "IBM"]).bars(START, END)
    pd.testing.assert_frame_equal(delivery.bars, replay)
    assert delivery.served_by == {"AAPL": "replay:daily_5stocks.parquet", "IBM": "replay:daily_5stocks.parquet"}
    assert [(f["symbol"], f["provider"]) for f in delivery.fallbacks] == [("AAPL", "yfinance"), ("IBM", "yfinance")]
    assert "Yahoo Finance unreachable" in delivery.fallbacks[0]["reason"]
    assert delivery.unserved == {}


def test_each_symbol_comes_from_the_first_provider_that_has_it(server, closed_proxy):
    chain = FallbackMarketData(
        symbols=["AAPL", "IBM", "MSFT"],
        alpaca=_alpaca(server),
        yfinance=YFinanceMarketData(proxy=closed_proxy, timeout_s=2),
        replay=ReplayMarketData(),
    )
    delivery = chain.deliver(START, END)
    assert delivery.served_by == {"AAPL": "alpaca:iex", "IBM": "alpaca:iex", "MSFT": "replay:daily_5stocks.parquet"}
    assert [(f["symbol"], f["provider"]) for f in delivery.fallbacks] == [("MSFT", "alpaca:iex"), ("MSFT", "yfinance")]
    assert delivery.fallbacks[0]["reason"] == "no bars in the requested range"
    assert sorted(delivery.bars["symbol"].unique()) == ["AAPL", "IBM", "MSFT"]
    assert server.count("GET", "/v2/stocks/bars") == 1


def test_a_failing_alpaca_hands_every_symbol_on_and_the_order_is_configurable(server):
    failure = Scripted(500, {"code": 50010000, "message": "internal server error"})
    server.script("GET", "/v2/stocks/bars", failure, failure)
    chain = FallbackMarketData(symbols=["AAPL", "IBM"], alpaca=_alpaca(server), replay=ReplayMarketData())
    delivery = chain.deliver(START, END)
    assert set(delivery.served_by.values()) == {"replay:daily_5stocks.parquet"}
    assert all("HTTP 500: internal server error after 2 attempts" in f["reason"] for f in delivery.fallbacks)

    replay_first = FallbackMarketData(
        symbols=["AAPL"], alpaca=_alpaca(server), replay=ReplayMarketData(), order=["replay", "alpaca"]
    )
    assert replay_first.deliver(START, END).served_by == {"AAPL": "replay:daily_5stocks.parquet"}
    assert server.count("GET", "/v2/stocks/bars") == 2  # the replay served: Alpaca was not asked again


def test_symbols_nobody_has_are_reported_and_nothing_at_all_is_an_error(server):
    chain = FallbackMarketData(symbols=["AAPL", "NOPE"], alpaca=_alpaca(server), replay=ReplayMarketData())
    delivery = chain.deliver(START, END)
    assert list(delivery.unserved) == ["NOPE"]
    assert "alpaca:iex: no bars" in delivery.unserved["NOPE"] and "unknown symbol" in delivery.unserved["NOPE"]
    with pytest.raises(RuntimeError, match=r"no provider of fallback.* served any bar"):
        FallbackMarketData(symbols=["NOPE"], alpaca=_alpaca(server), replay=ReplayMarketData()).deliver(START, END)
    with pytest.raises(ValueError, match="order must list distinct names"):
        FallbackMarketData(replay=ReplayMarketData(), order=["replay", "bloomberg"]).deliver(START, END)
    with pytest.raises(ValueError, match="no provider of order"):
        FallbackMarketData(order=["alpaca"], replay=ReplayMarketData()).deliver(START, END)


def test_history_before_the_data_begins_is_empty_but_history_nobody_answered_for_is_an_error(server, closed_proxy):
    """A warm-up or look-back before the providers' data is empty (Alpaca answered: no bars then), even with yfinance
    unreachable; when every provider failed to answer, it is an error, never an empty history."""
    chain = FallbackMarketData(
        symbols=["AAPL"], alpaca=_alpaca(server), yfinance=YFinanceMarketData(proxy=closed_proxy, timeout_s=2),
        order=["alpaca", "yfinance"],
    )  # fmt: skip
    before = (date(2009, 8, 3), date(2010, 8, 31))  # the sandbox's bars start in 2011
    assert chain.bars(*before).empty
    with pytest.raises(RuntimeError, match="served any bar"):
        chain.deliver(*before)  # the traded range itself must have bars
    failure = Scripted(500, {"code": 50010000, "message": "internal server error"})
    server.script("GET", "/v2/stocks/bars", failure, failure)
    with pytest.raises(RuntimeError, match=r"no provider of fallback.* answered for .*HTTP 500"):
        chain.bars(*before)


def test_alpaca_market_data_caches_on_disk(server, tmp_path):
    provider = _alpaca(server, symbols=["AAPL", "IBM"], cache_dir=str(tmp_path))
    first = provider.bars(START, END)
    second = provider.bars(START, END)
    pd.testing.assert_frame_equal(first, second)
    assert server.count("GET", "/v2/stocks/bars") == 1
    # Alone, a provider serves what it has: no bars for a symbol is an empty answer, an unknown one an error.
    assert set(_alpaca(server, symbols=["AAPL", "MSFT"]).bars(START, END)["symbol"]) == {"AAPL"}
    with pytest.raises(ValueError, match=r"no bars for 1 symbol.*NOPE: unknown symbol"):
        ReplayMarketData(symbols=["AAPL", "NOPE"]).bars(START, END)


def test_market_bars_through_dagster_records_who_served_each_symbol(instance, server, closed_proxy):
    chain = FallbackMarketData(
        symbols=["AAPL", "FB", "IBM", "MSFT"],
        alpaca=_alpaca(server),
        yfinance=YFinanceMarketData(proxy=closed_proxy, timeout_s=2),
        replay=ReplayMarketData(),
    )
    run = run_cycle(instance, "2012-06-25", "2012-06-29", market_data=chain)
    assert run.result.success
    materializations = [
        m for m in run.result.get_asset_materialization_events() if m.asset_key.path[-1] == "market_bars"
    ]
    assert len(materializations) == 5  # one per session of the range, from one fetch
    metadata = asset_metadata(instance, run.result, "market_bars")
    assert "| AAPL     | alpaca:iex" in metadata["served_by"].value
    assert "| MSFT     | replay:daily_5stocks.parquet" in metadata["served_by"].value
    assert metadata["fallbacks"].value == 4  # FB and MSFT: Alpaca had no bars, yfinance was offline
    assert metadata["provider"].value == "fallback(alpaca:iex > yfinance > replay:daily_5stocks.parquet)"
    events = run.table("risk_events")
    fallbacks = events[events["rule"] == "provider_fallback"]
    assert sorted(fallbacks["symbol"]) == ["FB", "FB", "MSFT", "MSFT"] and set(fallbacks["action"]) == {"info"}
    assert len(run.table("orders")) > 0  # the cycle traded on the chain's bars end to end


def test_alpaca_keys_come_from_the_environment_and_never_show(server, monkeypatch, tmp_path):
    key = fresh_key()
    monkeypatch.setenv("ALPACA_API_KEY", key)
    monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET_KEY)
    resource = AlpacaMarketData.from_env(symbols=["AAPL"], data_url=server.url, cache_dir=str(tmp_path))
    with build_resources({"market_data": resource}) as resources:
        bars = resources.market_data.bars(START, END)
        assert set(bars["symbol"]) == {"AAPL"}
        assert key not in repr(resources.market_data.settings()) and SECRET_KEY not in repr(
            resources.market_data.settings()
        )
    assert resource.api_key != key  # the definition holds the variable's name, not its value
