"""Alpaca news (alpaca-py ``NewsClient``) as ``domain.news.visibility.ARTICLE_COLUMNS``, cached like bars.

alpaca-py follows ``next_page_token`` itself; each page goes through the governed client, so it takes a slot
of the account's shared rate limiter and gets the project's retries. The answer of one (symbols, start, end)
request is kept in the bar cache for its TTL: a re-run of the same range asks Alpaca nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from alpaca.data.requests import NewsRequest

from trading_pipeline.domain.news.visibility import ARTICLE_COLUMNS
from trading_pipeline.integrations.alpaca_client import GovernedNewsClient
from trading_pipeline.integrations.bar_cache import BarCache


def fetch_news(
    client: GovernedNewsClient,
    symbols: Sequence[str],
    start: datetime,
    end: datetime,
    cache: BarCache | None = None,
) -> pd.DataFrame:
    """Every article about ``symbols`` created in [start, end] (tz-aware instants), sorted by id."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("news start and end must be time-zone aware")
    if end < start:
        raise ValueError(f"news end {end} is before start {start}")
    wanted = sorted({s.upper() for s in symbols})
    key = {"provider": "alpaca-news", "symbols": ",".join(wanted), "start": start.isoformat(), "end": end.isoformat()}
    cached = cache.get(key) if cache is not None else None
    if cached is not None:
        return cached.assign(symbols=cached["symbols"].map(list))
    # No ``limit``: alpaca-py reads it as a cap on the total; unset, it pages (50 a page) to the end.
    news = client.get_news(NewsRequest(symbols=",".join(wanted), start=start, end=end, sort="asc")).data.get("news", [])
    frame = pd.DataFrame(
        [(str(n.id), list(n.symbols), n.created_at, n.updated_at, n.headline, n.summary) for n in news],
        columns=ARTICLE_COLUMNS,
    )
    for column in ("created_at", "updated_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
    frame = frame.sort_values("id", kind="stable", key=lambda ids: ids.str.zfill(20)).reset_index(drop=True)
    if cache is not None:
        cache.put(key, frame)
    return frame
