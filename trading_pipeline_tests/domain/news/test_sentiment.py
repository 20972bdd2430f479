"""Lexicon sentiment offline (network blocked), VADER's compound formula recomputed from its lexicon file, and the
per (symbol, session) aggregate with absent news as NaN and a count of 0."""

from __future__ import annotations

import math
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import vaderSentiment

from trading_pipeline.domain.news import sentiment
from trading_pipeline.domain.news.sentiment import SENTIMENT_COLUMNS, article_text, lexicon_scores, session_sentiment

D = pd.Timestamp


def _valence(word: str) -> float:
    lexicon = Path(vaderSentiment.__file__).with_name("vader_lexicon.txt")
    for line in lexicon.read_text(encoding="utf-8").splitlines():
        token, mean, *_ = line.split("\t")
        if token == word:
            return float(mean)
    raise KeyError(word)


def test_the_lexicon_scores_offline_with_vaders_formula(monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    sentiment._analyzer.cache_clear()  # the lexicon is read again, here, without a network
    articles = pd.DataFrame(
        {"id": [10, 11, 12], "headline": ["good", "bad", "Results due Tuesday"], "summary": [None, "", "  "]}
    )
    scores = lexicon_scores(articles)
    # VADER's compound: the summed valence x normalised as x / sqrt(x² + 15).
    for article_id, word in ((10, "good"), (11, "bad")):
        x = _valence(word)
        assert scores[article_id] == pytest.approx(x / math.sqrt(x * x + 15), abs=1e-4)  # VADER rounds to 4 places
    assert scores[12] == 0.0
    assert scores.index.tolist() == [10, 11, 12]


def test_an_article_is_scored_on_its_headline_and_summary() -> None:
    assert article_text(" Deal agreed ", "Terms below. ") == "Deal agreed\nTerms below."
    assert article_text("Deal agreed", None) == "Deal agreed" == article_text("Deal agreed", float("nan"))
    both = lexicon_scores(pd.DataFrame({"id": [1], "headline": ["Quarter results"], "summary": ["good"]}))
    assert both[1] > 0


def test_sentiment_per_symbol_and_session_with_no_news_as_nan() -> None:
    session_articles = pd.DataFrame(
        {
            "date": [D("2021-03-01"), D("2021-03-01"), D("2021-03-01"), D("2021-03-02")],
            "symbol": ["AAPL", "AAPL", "MSFT", "AAPL"],
            "id": [1, 2, 2, 3],
        }
    )
    scores = pd.Series([0.5, -0.1, 0.9], index=pd.Index([1, 2, 3], name="id"))
    keys = pd.DataFrame({"date": [D("2021-03-02"), D("2021-03-01"), D("2021-03-01"), D("2021-03-01")]})
    keys["symbol"] = ["AAPL", "AAPL", "MSFT", "IBM"]
    out = session_sentiment(session_articles, scores, keys)
    assert list(out.columns) == SENTIMENT_COLUMNS
    assert out[["date", "symbol"]].equals(keys)
    np.testing.assert_allclose(out["sentiment"], [0.9, (0.5 - 0.1) / 2, -0.1, np.nan])
    assert out["news_count"].tolist() == [1, 2, 1, 0]


def test_bad_scores_are_refused() -> None:
    articles = pd.DataFrame({"date": [D("2021-03-01")], "symbol": ["AAPL"], "id": [1]})
    keys = articles[["date", "symbol"]]
    with pytest.raises(ValueError, match="in \\[-1, 1\\]"):
        session_sentiment(articles, pd.Series([1.5], index=[1]), keys)
    with pytest.raises(ValueError, match="without a score"):
        session_sentiment(articles, pd.Series([0.5], index=[2]), keys)
    with pytest.raises(ValueError, match="two scores"):
        session_sentiment(articles, pd.Series([0.5, 0.1], index=[1, 1]), keys)
