"""News sentiment per (symbol, session): a score per article, averaged over the session's visible articles.

The offline score is VADER's compound score (``vaderSentiment``, whose lexicon ships inside the package: no
download, no network), in [-1, 1], of the headline and summary together (the summary often carries the news
the headline only hints at). An LLM's scores (``llm_sentiment.py``) take the same path: scores by article id.

Per (symbol, session) the features are ``sentiment``, the mean score of the session's articles
(``visibility.session_articles``), and ``news_count``. A (symbol, session) without news has ``news_count`` 0
and ``sentiment`` NaN: no news is not neutral news, and a model or a study must be able to tell them apart.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from trading_pipeline.domain.schema import KEY

SENTIMENT_COLUMNS = [*KEY, "sentiment", "news_count"]


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    """Reads the bundled lexicon once per process (~0.1 s)."""
    return SentimentIntensityAnalyzer()


def article_text(headline: str, summary: str | None) -> str:
    """What an article is scored on: its headline, then its summary if it has one."""
    summary = "" if summary is None or pd.isna(summary) else str(summary).strip()
    return f"{str(headline).strip()}\n{summary}" if summary else str(headline).strip()


def lexicon_scores(articles: pd.DataFrame) -> pd.Series:
    """VADER compound score of each article (``id``, ``headline``, ``summary``), indexed by id."""
    analyzer = _analyzer()
    scores = [
        analyzer.polarity_scores(article_text(h, s))["compound"]
        for h, s in zip(articles["headline"], articles["summary"], strict=True)
    ]
    return pd.Series(scores, index=pd.Index(articles["id"], name="id"), name="score", dtype="float64")


def session_sentiment(session_articles: pd.DataFrame, scores: pd.Series, keys: pd.DataFrame) -> pd.DataFrame:
    """``SENTIMENT_COLUMNS`` for every (date, symbol) of ``keys`` (e.g. the market context), in its order.

    ``session_articles``: ``visibility.session_articles``; ``scores``: a score in [-1, 1] per article id.
    Raises ValueError if an article has no score, or two, or one outside [-1, 1].
    """
    if scores.index.duplicated().any():
        raise ValueError(f"two scores for article {scores.index[scores.index.duplicated()][0]!r}")
    values = scores.to_numpy(dtype="float64")
    if not (np.isfinite(values) & (np.abs(values) <= 1.0)).all():
        raise ValueError(
            f"sentiment scores must lie in [-1, 1], e.g. {scores[~(np.abs(values) <= 1.0)].head(3).to_dict()}"
        )
    scored = session_articles[[*KEY, "id"]].merge(scores.rename("score"), left_on="id", right_index=True, how="left")
    if scored["score"].isna().any():
        raise ValueError(f"articles without a score, e.g. id {scored.loc[scored['score'].isna(), 'id'].iloc[0]!r}")
    per_key = scored.groupby(KEY)["score"].agg(sentiment="mean", news_count="count").reset_index()
    out = keys[KEY].merge(per_key, on=KEY, how="left", validate="one_to_one")
    out["news_count"] = out["news_count"].fillna(0).astype("int64")
    return out[SENTIMENT_COLUMNS]


def with_sentiment(context: pd.DataFrame, sentiment: pd.DataFrame) -> pd.DataFrame:
    """``context`` with the ``sentiment`` and ``news_count`` features of its (date, symbol) rows; unchanged when
    ``sentiment`` has no rows at all (no news source: the features are absent, not neutral)."""
    if sentiment.empty:
        return context
    features = sentiment[SENTIMENT_COLUMNS]
    return context.merge(features, on=KEY, how="left", validate="one_to_one")
