"""market_context: the regime features a strategy is chosen from, and the news sentiment when there is any."""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MetadataValue

from trading_pipeline.defs.session_table import session_table
from trading_pipeline.domain.context import CONTEXT_INPUTS
from trading_pipeline.domain.context import market_context as compute_market_context
from trading_pipeline.domain.news.sentiment import with_sentiment


@session_table("signals", ins={"indicators": AssetIn(metadata={"columns": CONTEXT_INPUTS})})
def market_context(
    context: AssetExecutionContext, indicators: pd.DataFrame, news_sentiment: pd.DataFrame
) -> pd.DataFrame:
    """Trend strength, volatility regime, volume ratio and momentum per (session, symbol); ``sentiment`` and
    ``news_count`` too when news_sentiment has rows (a news source and a selector that reads it), else absent."""
    frame = with_sentiment(compute_market_context(indicators), news_sentiment)
    regimes = frame["regime"].value_counts().rename_axis("regime").reset_index(name="rows")
    news = "sentiment" in frame.columns
    context.add_output_metadata(
        {
            "regimes": MetadataValue.md(regimes.to_markdown(index=False)),
            "sentiment": f"{int((frame['news_count'] > 0).sum())} rows with news"
            if news
            else "absent (news_sentiment)",
        }
    )
    return frame
