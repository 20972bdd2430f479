"""Which news a session's decision may see: only what was published, in the version we hold, before it.

A decision on session D is made at an instant: by default D's close in New York (13:00 on early closes), or
a given New York wall-clock time that day (the daily cycle runs after the close). An article is visible to it
only if it was created strictly before that instant.

**Updates.** A news feed (Alpaca's) serves each article in its latest version with the time it was last
updated, not what it said before. The text we hold is therefore known only from its update: an article counts
from ``known_at`` = max(created_at, updated_at). An article updated after a decision is invisible to it even
if first published earlier (its first text is unknown to us, and the later one must not leak into the past);
it counts for the first decision after its update instead of being dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time

import numpy as np
import pandas as pd

from trading_pipeline.domain import calendar

ARTICLE_COLUMNS = ["id", "symbols", "created_at", "updated_at", "headline", "summary"]
SESSION_ARTICLE_COLUMNS = ["date", "symbol", "id", "known_at", "headline", "summary"]


def decision_time(session: calendar.DayLike, at: time | None = None) -> pd.Timestamp:
    """The instant of session ``session``'s decision in New York time: its close, or ``at`` that day."""
    if at is None:
        return calendar.session_close(session)
    day = pd.Timestamp(session)
    if not calendar.is_session(day):
        raise ValueError(f"{day.date()} is not a {calendar.CALENDAR_NAME} session")
    return pd.Timestamp(datetime.combine(day.date(), at)).tz_localize(calendar.EXCHANGE_TZ)


def known_at(articles: pd.DataFrame) -> pd.Series:
    """When the version of each article we hold became public: max(created_at, updated_at), in UTC.

    Raises ValueError on missing columns, duplicate ids, tz-naive or missing creation times, or an update
    before the creation.
    """
    missing = [c for c in ARTICLE_COLUMNS if c not in articles.columns]
    if missing:
        raise ValueError(f"articles lack the columns {missing}")
    if articles["id"].duplicated().any():
        raise ValueError(f"duplicate article ids, e.g. {articles.loc[articles['id'].duplicated(), 'id'].iloc[0]!r}")
    created, updated = _utc(articles["created_at"], "created_at"), _utc(articles["updated_at"], "updated_at")
    if created.isna().any():
        raise ValueError(f"article {articles.loc[created.isna(), 'id'].iloc[0]!r} has no created_at")
    before = updated < created
    if before.any():
        raise ValueError(f"article {articles.loc[before, 'id'].iloc[0]!r} was updated before it was created")
    return updated.where(updated.notna(), created).rename("known_at")


def visible_articles(articles: pd.DataFrame, decision: pd.Timestamp) -> pd.DataFrame:
    """The ``articles`` rows a decision made at instant ``decision`` (tz-aware) may see."""
    if decision.tz is None:
        raise ValueError(f"a decision instant must be tz-aware, got {decision}")
    return articles[(known_at(articles) < decision).to_numpy()]


def session_articles(
    articles: pd.DataFrame, sessions: Sequence[calendar.DayLike], at: time | None = None
) -> pd.DataFrame:
    """``SESSION_ARTICLE_COLUMNS``: each (article, symbol) on the one session of ``sessions`` whose decision is
    the first after its ``known_at`` (the news since the previous session's decision, weekends included),
    sorted by date, symbol, known_at, id. Articles known after the last decision are in no session yet."""
    days = pd.DatetimeIndex(sorted({pd.Timestamp(s) for s in sessions}))
    if not len(days):
        return pd.DataFrame(columns=SESSION_ARTICLE_COLUMNS)
    calendar_days = calendar.sessions(calendar.previous_session(days[0]), days[-1])
    decisions = pd.DatetimeIndex([decision_time(d, at) for d in calendar_days]).tz_convert("UTC").as_unit("ns")
    known = known_at(articles)
    first_after = np.searchsorted(decisions.asi8, pd.DatetimeIndex(known).asi8, side="right")
    inside = first_after < len(decisions)
    session = pd.Series(pd.NaT, index=articles.index, dtype="datetime64[ns]")
    session[inside] = calendar_days[first_after[inside]]
    wanted = session.isin(days).to_numpy()
    frame = articles.loc[wanted, ["id", "symbols", "headline", "summary"]].assign(
        date=session[wanted], known_at=known[wanted]
    )
    frame = frame.explode("symbols").rename(columns={"symbols": "symbol"}).dropna(subset=["symbol"])
    frame = frame.sort_values(["date", "symbol", "known_at", "id"], kind="stable").reset_index(drop=True)
    return frame[SESSION_ARTICLE_COLUMNS]


def _utc(values: pd.Series, name: str) -> pd.Series:
    """The instants as UTC; a tz-naive one is an error (its zone would be a guess)."""
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        naive = [v for v in values if not pd.isna(v) and pd.Timestamp(v).tz is None]
        if naive:
            raise ValueError(f"article {name} must be tz-aware (Alpaca's are UTC), got {naive[0]!r}")
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")
