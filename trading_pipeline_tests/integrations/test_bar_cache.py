"""The on-disk bar cache: fresh entries are served, expired or torn ones are not."""

import os

import pandas as pd

from trading_pipeline.integrations.bar_cache import BarCache
from trading_pipeline.integrations.fetch import fetch_with_cache

KEY = {"provider": "alpaca", "timeframe": "1Day", "start": "2012-06-01", "end": "2012-06-05", "symbol": "AAPL"}


def _bars(symbol="AAPL"):
    return pd.DataFrame(
        {
            "date": pd.to_datetime(["2012-06-01", "2012-06-04"]),
            "symbol": symbol,
            "open": [1.0, 2.0],
            "high": [1.5, 2.5],
            "low": [0.5, 1.5],
            "close": [1.2, 2.2],
            "volume": [10.0, 20.0],
        }
    )


def test_fresh_entries_hit_and_expired_ones_miss(tmp_path):
    now = [1_000_000.0]
    cache = BarCache(tmp_path, ttl_s=3600, clock=lambda: now[0])
    cache.put(KEY, _bars())
    path = next(tmp_path.glob("*.parquet"))
    os.utime(path, (now[0], now[0]))
    pd.testing.assert_frame_equal(cache.get(KEY), _bars())
    assert cache.get({**KEY, "end": "2012-06-06"}) is None  # another request is another entry
    now[0] += 3601
    assert cache.get(KEY) is None
    assert (cache.hits, cache.misses) == (1, 2)


def test_a_torn_entry_is_dropped_and_ttl_zero_disables(tmp_path):
    cache = BarCache(tmp_path, ttl_s=3600)
    cache.put(KEY, _bars())
    path = next(tmp_path.glob("*.parquet"))
    path.write_bytes(b"not parquet")
    assert cache.get(KEY) is None
    assert not path.exists()
    off = BarCache(tmp_path / "off", ttl_s=0)
    off.put(KEY, _bars())
    assert off.get(KEY) is None and not (tmp_path / "off").exists()


def test_fetch_with_cache_asks_the_provider_only_for_misses(tmp_path):
    cache = BarCache(tmp_path, ttl_s=3600)
    asked: list[list[str]] = []

    def fetch(symbols):
        asked.append(symbols)
        return pd.concat([_bars(s) for s in symbols if s != "NONE"], ignore_index=True), {}

    request = {k: v for k, v in KEY.items() if k != "symbol"}
    first = fetch_with_cache(["AAPL", "IBM", "NONE"], request, cache, fetch)
    assert first.missing == {"NONE": "no bars in the requested range"}
    second = fetch_with_cache(["AAPL", "IBM", "NONE", "MSFT"], request, cache, fetch)
    assert asked == [["AAPL", "IBM", "NONE"], ["MSFT"]]  # an empty answer is cached too
    assert second.cache_hits == 3
    assert sorted(second.bars["symbol"].unique()) == ["AAPL", "IBM", "MSFT"]
