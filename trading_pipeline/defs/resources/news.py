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
from pathlib import Path

import pandas as pd
from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import Field, PrivateAttr

from trading_pipeline.defs.resources.llm import GroqChat
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
from trading_pipeline.integrations.alpaca_client import AlpacaSettings, GovernedNewsClient
from trading_pipeline.integrations.bar_cache import BarCache


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
    """Alpaca's news API, through the account's shared rate limiter, cached for the bar cache's TTL."""

    api_key: str = Field(description="Alpaca key id; pass EnvVar('ALPACA_API_KEY').")
    secret_key: str = Field(description="Alpaca secret; pass EnvVar('ALPACA_SECRET_KEY').")
    data_url: str | None = Field(default=None, description="Data API base URL; None means Alpaca's.")
    timeout_s: float = Field(default=10.0, gt=0)
    max_requests_per_minute: int = Field(default=200, ge=1, description="Shared by every client of the account.")
    cache_dir: str | None = Field(default=None, description="None: <DAGSTER_HOME>/trading_pipeline/bar_cache.")
    cache_ttl_s: float = Field(default=12 * 3600, ge=0, description="Seconds a cached answer stays fresh; 0 disables.")
    _cache: BarCache | None = PrivateAttr(default=None)

    @classmethod
    def from_env(cls, **config) -> AlpacaNews:
        return cls(api_key=EnvVar("ALPACA_API_KEY"), secret_key=EnvVar("ALPACA_SECRET_KEY"), **config)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        home = Path(context.instance.root_directory) if context.instance else None
        root = self.cache_dir or (str(home / "trading_pipeline" / "bar_cache") if home else None)
        self._cache = BarCache(root, self.cache_ttl_s) if root else None

    @property
    def provider(self) -> str:
        return "alpaca"

    def articles(self, symbols: Sequence[str], start: datetime, end: datetime) -> pd.DataFrame:
        settings = AlpacaSettings(
            api_key=self.api_key,
            secret_key=self.secret_key,
            data_url=self.data_url,
            timeout_s=self.timeout_s,
            max_requests_per_minute=self.max_requests_per_minute,
        )
        return alpaca_news.fetch_news(GovernedNewsClient(settings), symbols, start, end, self._cache)


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
