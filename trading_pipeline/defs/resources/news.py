"""News and its sentiment, two concerns with one interface each.

``NewsFeed``: offline there is none (``NoNews``: the sentiment features are absent and the asset's metadata
says so); ``AlpacaNews`` reads Alpaca's news API through alpaca-py. ``SentimentScorer``: VADER's lexicon
offline (``LexiconSentiment``), or Groq through the project's LLM call machinery (``GroqSentiment``: batched,
validated, journaled as step ``sentiment``, cached, budgeted, VADER when the model cannot answer validly).
Headlines only ever reach a model as JSON data (``domain/news/llm_sentiment.py``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from dagster import ConfigurableResource

from trading_pipeline.defs.resources.llm import GroqChat
from trading_pipeline.defs.resources.market_data import AlpacaMarketData
from trading_pipeline.domain.llm.calls import LLMRun, Request, Step
from trading_pipeline.domain.news.llm_sentiment import (
    answer_scores,
    batches,
    lexicon_answer,
    parse_sentiment,
    sentiment_prompt,
)
from trading_pipeline.domain.news.sentiment import lexicon_scores
from trading_pipeline.integrations import alpaca_news
from trading_pipeline.integrations.alpaca_client import GovernedNewsClient


class NewsFeed(ConfigurableResource):
    @abstractmethod
    def articles(self, symbols: Sequence[str], start: datetime, end: datetime) -> pd.DataFrame | None:
        """``ARTICLE_COLUMNS`` of the articles about ``symbols`` created in [start, end]; None: no news source."""

    @property
    @abstractmethod
    def provider(self) -> str: ...


class NoNews(NewsFeed):
    """The offline default: no news, so no sentiment features (not neutral ones)."""

    @property
    def provider(self) -> str:
        return "none"

    def articles(self, symbols: Sequence[str], start: datetime, end: datetime) -> pd.DataFrame | None:
        return None


class AlpacaNews(NewsFeed):
    """Alpaca's news API with the market data's keys and endpoint, through the account's shared rate limiter,
    cached in its bar cache for its TTL. Nested, the market data has no launch config (resources/launch_lock.py)."""

    market_data: AlpacaMarketData

    @property
    def provider(self) -> str:
        return "alpaca"

    def articles(self, symbols: Sequence[str], start: datetime, end: datetime) -> pd.DataFrame:
        client = GovernedNewsClient(self.market_data.settings())
        return alpaca_news.fetch_news(client, symbols, start, end, self.market_data.cache())


class SentimentScorer(ConfigurableResource):
    @abstractmethod
    def score(self, articles: pd.DataFrame, run: LLMRun) -> tuple[pd.Series, list[str]]:
        """(a score in [-1, 1] per article id, the outcome of each request made). ``articles``: id, symbols,
        headline, summary and ``date``, the session whose decision first sees it."""

    @property
    @abstractmethod
    def provider(self) -> str: ...


class LexiconSentiment(SentimentScorer):
    """VADER's compound score; its lexicon ships inside the package, so it works offline."""

    @property
    def provider(self) -> str:
        return "vader"

    def score(self, articles: pd.DataFrame, run: LLMRun) -> tuple[pd.Series, list[str]]:
        return lexicon_scores(articles), []


class GroqSentiment(SentimentScorer, GroqChat):
    """Groq scores each session's articles, ``MAX_BATCH`` per request; VADER scores a batch the model could not."""

    @property
    def provider(self) -> str:
        return f"groq/{self.model}"

    def score(self, articles: pd.DataFrame, run: LLMRun) -> tuple[pd.Series, list[str]]:
        scores, outcomes = [], []
        with self.recorder(run) as recorder:
            for session, day in articles.groupby("date", sort=True):
                stamp = pd.Timestamp(session)
                for batch in batches(day):
                    decision = recorder.ask(
                        Request(
                            step=Step.SENTIMENT,
                            session=stamp.date(),
                            prompt=sentiment_prompt(stamp.date().isoformat(), batch),
                            send=self.send,
                            parse=lambda text, batch=batch: parse_sentiment(text, batch),
                            encode=lambda answer: answer.model_dump_json(),
                            fallback=lambda batch=batch: lexicon_answer(batch),
                        )
                    )
                    outcomes.append(str(decision.outcome))
                    scores.append(answer_scores(decision.value, batch))
        if not scores:
            return pd.Series(dtype="float64", name="score"), outcomes
        return pd.concat(scores), outcomes
