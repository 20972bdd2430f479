"""news_sentiment: the mean sentiment and count of the news each (session, symbol)'s decision may see.

Only articles known (published, or updated) before a session's decision count for it (``domain/news``); an
article known after the last decision of the range is in none of its sessions. The scores become columns of
market_context, which the LLM selector receives; the deterministic policy does not read them (no study has
shown value), so under it no news is fetched or scored. Without a news source, or a reader, the table is
empty and the features are absent from market_context, not neutral.
"""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn

from trading_pipeline.defs.llm_steps import llm_run, outcome_table, retry_only_invalid_answers
from trading_pipeline.defs.partitions import session_dates
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.llm import LLM_OP_RETRY
from trading_pipeline.defs.resources.news import NewsFeed, SentimentScorer
from trading_pipeline.defs.resources.selector import StrategySelector
from trading_pipeline.defs.session_table import session_table
from trading_pipeline.domain import calendar
from trading_pipeline.domain.news.sentiment import SENTIMENT_COLUMNS, session_sentiment
from trading_pipeline.domain.news.visibility import decision_time, session_articles
from trading_pipeline.domain.schema import KEY


@session_table("signals", retry_policy=LLM_OP_RETRY, ins={"indicators": AssetIn(metadata={"columns": KEY})})
def news_sentiment(
    context: AssetExecutionContext,
    indicators: pd.DataFrame,
    news: NewsFeed,
    sentiment: SentimentScorer,
    journal: JournalResource,
    trading: TradingBook,
    selector: StrategySelector,
) -> pd.DataFrame:
    """``sentiment`` (mean score in [-1, 1]) and ``news_count`` per (session, symbol) of the range's indicators
    (the rows of market_context)."""
    sessions = session_dates(context.partition_keys)
    symbols = sorted(indicators["symbol"].astype(str).unique())
    if not selector.reads_data:
        reason = f"absent: the selector ({selector.provider}) reads no news, so none was fetched"
        context.add_output_metadata({"news": news.provider, "features": reason})
        return _no_sentiment()
    # The news since the decision before the range, up to the range's last decision.
    start = decision_time(calendar.previous_session(sessions[0])).to_pydatetime()
    end = decision_time(sessions[-1]).to_pydatetime()
    articles = news.articles(symbols, start, end) if symbols else None
    if articles is None:
        context.add_output_metadata({"news": news.provider, "features": "absent: no news source"})
        return _no_sentiment()
    seen = session_articles(articles, sessions)
    seen = seen[seen["symbol"].isin(symbols)]
    scored = seen.drop_duplicates("id")[["id", "date"]].merge(articles, on="id", how="left", validate="one_to_one")
    with retry_only_invalid_answers():
        scores, outcomes = sentiment.score(scored, llm_run(context.op_execution_context, journal, trading))
    frame = session_sentiment(seen, scores, indicators[KEY])
    context.add_output_metadata(
        {
            "news": news.provider,
            "scorer": sentiment.provider,
            "articles_fetched": len(articles),
            "articles_seen": len(scored),
            "rows_with_news": int((frame["news_count"] > 0).sum()),
            "scoring_requests": outcome_table(outcomes),
        }
    )
    return frame


def _no_sentiment() -> pd.DataFrame:
    return pd.DataFrame(columns=SENTIMENT_COLUMNS).astype({"sentiment": "float64", "news_count": "int64"})
