"""The sandbox's market data and news through alpaca-py's real clients: unknown symbols, bad queries, the clock, paging."""

from datetime import UTC, date, datetime

import pandas as pd
import pytest
import requests
from alpaca.data.historical.news import NewsClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import NewsRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

from trading_pipeline.domain import calendar
from trading_pipeline.integrations.alpaca_client import GovernedDataClient
from trading_pipeline.integrations.alpaca_data import fetch_daily_bars
from trading_pipeline.sandbox.alpaca_server import NEW_YORK, SECRET_KEY, AlpacaSandbox
from trading_pipeline.sandbox.news import SANDBOX_STORIES, Article, sandbox_articles
from trading_pipeline_tests.fakes.alpaca_fixtures import fresh_key, sample_bars, settings_for

BARS = sample_bars(["AAPL", "IBM"], "2012-05-01", "2012-06-29")
NOON = datetime(2012, 6, 1, 12, 0, tzinfo=NEW_YORK)


def get(sandbox: AlpacaSandbox, path: str, **params) -> requests.Response:
    headers = {"APCA-API-KEY-ID": fresh_key(), "APCA-API-SECRET-KEY": SECRET_KEY}
    return requests.get(f"{sandbox.url}{path}", params=params, headers=headers, timeout=5)


def test_a_symbol_without_bars_gets_none_and_no_dropped_connection():
    with AlpacaSandbox(bars=BARS) as sandbox:
        got = fetch_daily_bars(GovernedDataClient(settings_for(sandbox)), ["NOPE"], date(2012, 5, 1), date(2012, 6, 1))
        raw = get(
            sandbox, "/v2/stocks/bars", symbols="NOPE,AAPL", timeframe="1Day", start="2012-05-01", end="2012-05-02"
        )
    assert got.bars.empty and got.missing == {"NOPE": "no bars in the requested range"}
    assert raw.status_code == 200 and list(raw.json()["bars"]) == ["AAPL"]  # a symbol without bars is absent


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"timeframe": "1Day"}, 400, "symbols is required"),
        ({"symbols": "AAPL", "timeframe": "7Fortnight"}, 400, "invalid timeframe"),
        ({"symbols": "AAPL", "timeframe": "1Week"}, 422, "not served by the sandbox"),
        ({"symbols": "AAPL", "timeframe": "1Day", "start": "yesterday"}, 400, "invalid start"),
        ({"symbols": "AAPL", "timeframe": "1Day", "limit": "0"}, 400, "invalid limit"),
        ({"symbols": "AAPL", "timeframe": "1Day", "page_token": "abc"}, 400, "invalid page_token"),
        ({"symbols": "AAPL", "timeframe": "1Day", "feed": "nasdaq"}, 400, "invalid feed"),
        ({"symbols": "AAPL", "timeframe": "1Day", "start": "2012-06-02", "end": "2012-06-01"}, 400, "is before start"),
    ],
)
def test_queries_the_sandbox_cannot_answer_get_a_json_error(params, status, message):
    with AlpacaSandbox(bars=BARS) as sandbox:
        answer = get(sandbox, "/v2/stocks/bars", **params)
    assert answer.status_code == status and message in answer.json()["message"]


def test_bars_end_at_the_clock_a_session_counting_from_its_close():
    with AlpacaSandbox(bars=BARS, now=NOON) as sandbox:
        client = StockHistoricalDataClient(fresh_key(), SECRET_KEY, url_override=sandbox.url)
        request = StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Day, start=datetime(2012, 5, 25))
        during = client.get_stock_bars(request).df
        sandbox.advance({"advance": "next_close"})
        after = client.get_stock_bars(request).df
    sessions = [d.date() for d in calendar.sessions("2012-05-25", "2012-06-01")]
    assert [t.astimezone(NEW_YORK).date() for t in during.index.get_level_values("timestamp")] == sessions[:-1]
    assert [t.astimezone(NEW_YORK).date() for t in after.index.get_level_values("timestamp")] == sessions
    last = BARS[(BARS["symbol"] == "AAPL") & (BARS["date"] == "2012-06-01")].iloc[0]
    assert after.iloc[-1]["close"] == pytest.approx(last["close"]) and after.iloc[-1]["low"] == pytest.approx(
        last["low"]
    )


def test_minute_bars_are_aggregated_by_their_start_and_only_complete_bars_are_served():
    start = pd.Timestamp("2012-06-01 13:30", tz=UTC)  # 09:30 New York
    minutes = pd.DataFrame(
        {
            "timestamp": [start + pd.Timedelta(minutes=i) for i in range(12)],
            "symbol": "IBM",
            "open": [float(100 + i) for i in range(12)],
            "high": [float(101 + i) for i in range(12)],
            "low": [float(99 + i) for i in range(12)],
            "close": [100.5 + i for i in range(12)],
            "volume": [10.0] * 12,
        }
    )
    with AlpacaSandbox(bars=BARS, now=datetime(2012, 6, 1, 9, 41, tzinfo=NEW_YORK)) as sandbox:
        sandbox.intraday = minutes
        client = StockHistoricalDataClient(fresh_key(), SECRET_KEY, url_override=sandbox.url)
        bars = client.get_stock_bars(
            StockBarsRequest(
                symbol_or_symbols="IBM", timeframe=TimeFrame(5, TimeFrameUnit.Minute), start=start.to_pydatetime()
            )
        )["IBM"]
    # 09:30-09:34 and 09:35-09:39 are complete at 09:41; 09:40-09:44 is not
    assert [(b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (start, 100.0, 105.0, 99.0, 104.5, 50.0),
        (start + pd.Timedelta(minutes=5), 105.0, 110.0, 104.0, 109.5, 50.0),
    ]


def test_news_pages_through_the_sdk_filtered_by_symbols_and_creation_time():
    def at(day: str, hour: int) -> datetime:
        return datetime.fromisoformat(day).replace(hour=hour, tzinfo=NEW_YORK)

    articles = [
        Article(1, "AAPL one", "s", ("AAPL",), at("2012-05-30", 8)),
        Article(2, "IBM one", "s", ("IBM",), at("2012-05-30", 9)),
        Article(3, "AAPL and IBM", "s", ("AAPL", "IBM"), at("2012-05-31", 8), content="<p>body</p>"),
        Article(4, "AAPL two", "s", ("AAPL",), at("2012-05-31", 17)),
        Article(5, "AAPL three", "s", ("AAPL",), at("2012-06-01", 8)),
        Article(6, "AAPL after the clock", "s", ("AAPL",), at("2012-06-01", 13)),
    ]
    with AlpacaSandbox(bars=BARS, now=NOON, news=articles, news_page_size=2) as sandbox:
        client = NewsClient(fresh_key(), SECRET_KEY, url_override=sandbox.url)
        aapl = client.get_news(NewsRequest(symbols="AAPL", start=at("2012-05-30", 0), end=at("2012-06-02", 0)))
        window = client.get_news(NewsRequest(start=at("2012-05-30", 9), end=at("2012-05-31", 9), include_content=True))
        first = get(sandbox, "/v1beta1/news", symbols="AAPL", limit="2")
    assert [n.id for n in aapl.data["news"]] == [5, 4, 3, 1]  # newest first, across two pages; #6 is in the future
    assert [(n.id, n.content) for n in window.data["news"]] == [(3, "<p>body</p>"), (2, "")]
    assert first.json()["next_page_token"] and len(first.json()["news"]) == 2
    assert sandbox.count("GET", "/v1beta1/news") == 2 + 1 + 1  # the SDK followed next_page_token once


def test_the_sandbox_stories_are_dated_among_the_re_dated_sessions():
    last = date(2026, 12, 4)
    articles = sandbox_articles(last)
    assert len(articles) == len(SANDBOX_STORIES) and len({a.id for a in articles}) == len(articles)
    days = {a.created_at.astimezone(NEW_YORK).date() for a in articles}
    assert days <= {d.date() for d in calendar.sessions("2026-10-01", last)}
    assert all(a.headline.startswith("Sandbox wire:") and "not real news" in a.content for a in articles)
