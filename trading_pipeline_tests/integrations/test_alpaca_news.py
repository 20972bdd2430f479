"""Alpaca news through alpaca-py against the local sandbox: bounds, paging, the shared rate limiter, the cache,
and an article published after a decision that the decision never sees."""

from datetime import datetime

import pandas as pd

from trading_pipeline.domain.news.visibility import ARTICLE_COLUMNS, session_articles
from trading_pipeline.integrations.alpaca_client import GovernedNewsClient
from trading_pipeline.integrations.alpaca_news import fetch_news
from trading_pipeline.integrations.bar_cache import BarCache
from trading_pipeline.sandbox.alpaca_server import NEW_YORK, AlpacaSandbox
from trading_pipeline.sandbox.news import Article
from trading_pipeline_tests.fakes.alpaca_fixtures import settings_for


def at(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=NEW_YORK)


ARTICLES = [
    Article(1, "AAPL before the open", "s", ("AAPL",), at("2012-03-05", 8)),
    Article(2, "AAPL after the close", "s", ("AAPL",), at("2012-03-05", 16, 30)),
    Article(3, "IBM and AAPL", "s", ("IBM", "AAPL"), at("2012-03-06", 9)),
    Article(4, "IBM, updated after the close", "s", ("IBM",), at("2012-03-06", 10), updated_at=at("2012-03-06", 17)),
    Article(5, "GOOG only", "s", ("GOOG",), at("2012-03-06", 11)),
    Article(6, "AAPL too late for the window", "s", ("AAPL",), at("2012-03-07", 9)),
    Article(7, "AAPL before the window", "s", ("AAPL",), at("2012-03-01", 9)),
]


def test_news_in_bounds_paged_through_the_limiter_and_cached(tmp_path):
    with AlpacaSandbox(now=at("2012-03-09", 12), news=ARTICLES, news_page_size=2) as sandbox:
        settings = settings_for(sandbox)
        client = GovernedNewsClient(settings)
        cache = BarCache(tmp_path, ttl_s=3600)
        start, end = at("2012-03-02", 16), at("2012-03-06", 16)
        frame = fetch_news(client, ["ibm", "AAPL"], start, end, cache)
        requests_made = sandbox.count("GET", "/v1beta1/news")
        again = fetch_news(GovernedNewsClient(settings), ["AAPL", "IBM"], start, end, cache)
        assert sandbox.count("GET", "/v1beta1/news") == requests_made  # served from the cache within its TTL
    assert list(frame.columns) == ARTICLE_COLUMNS
    assert frame["id"].tolist() == ["1", "2", "3", "4"]  # GOOG-only, too early and too late are out
    assert requests_made == 2  # four articles, two a page: alpaca-py followed the page token
    assert settings.limiter().in_window() == 2  # every page took a slot of the account's limiter
    assert frame.loc[frame["id"] == "3", "symbols"].iloc[0] == ["IBM", "AAPL"]
    assert str(frame["created_at"].dtype) == "datetime64[ns, UTC]"
    pd.testing.assert_frame_equal(again, frame)
    # The decision of 2012-03-05 (its close, 16:00 New York) sees article 1 only: 2 came after it.
    seen = session_articles(frame, ["2012-03-05", "2012-03-06"])
    by_session = seen.groupby("date")["id"].apply(sorted).to_dict()
    assert by_session[pd.Timestamp("2012-03-05")] == ["1"]
    # 4 was updated after the close of the 6th: its text is known only for the next decision.
    assert by_session[pd.Timestamp("2012-03-06")] == ["2", "3", "3"]
