"""News visibility: strictly before the decision instant (the close, early closes included, or a given time),
updates re-date an article, weekends roll to the next session, and nothing published later reaches a session."""

from __future__ import annotations

from datetime import time

import pandas as pd
import pytest

from trading_pipeline.domain.news.visibility import (
    SESSION_ARTICLE_COLUMNS,
    decision_time,
    session_articles,
    visible_articles,
)


def _ny(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="America/New_York")


def _articles() -> pd.DataFrame:
    rows = [
        (1, ["AAPL"], _ny("2021-03-01 15:59:59"), None),
        (2, ["AAPL", "MSFT"], _ny("2021-03-01 16:00"), None),  # at the close: not before it
        (3, ["IBM"], _ny("2021-03-01 10:00"), _ny("2021-03-01 17:30")),  # updated after the close
        (4, ["IBM"], _ny("2021-03-06 11:00"), _ny("2021-03-06 11:00")),  # a Saturday
        (5, ["MSFT"], _ny("2019-11-29 14:00"), None),  # after the 13:00 early close
        (6, ["GOOG"], pd.Timestamp("2021-03-02 20:00", tz="UTC"), None),  # 15:00 in New York (EST)
        (7, [], _ny("2021-03-02 09:00"), None),  # about no listed company
    ]
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "symbols": [r[1] for r in rows],
            "created_at": [r[2].tz_convert("UTC") for r in rows],
            "updated_at": [None if r[3] is None else r[3].tz_convert("UTC") for r in rows],
            "headline": [f"headline {r[0]}" for r in rows],
            "summary": "",
        }
    )


def test_each_article_lands_on_the_first_decision_after_it_became_known() -> None:
    sessions = pd.bdate_range("2021-03-01", "2021-03-08").append(pd.DatetimeIndex(["2019-11-29", "2019-12-02"]))
    out = session_articles(_articles(), sessions)
    assert list(out.columns) == SESSION_ARTICLE_COLUMNS
    placed = {(row.id, row.symbol): row.date.date().isoformat() for row in out.itertuples()}
    assert placed == {
        (1, "AAPL"): "2021-03-01",
        (2, "AAPL"): "2021-03-02",
        (2, "MSFT"): "2021-03-02",
        (3, "IBM"): "2021-03-02",
        (4, "IBM"): "2021-03-08",
        (5, "MSFT"): "2019-12-02",
        (6, "GOOG"): "2021-03-02",
    }
    assert out.loc[out["id"] == 3, "known_at"].item() == _ny("2021-03-01 17:30")


def test_a_later_decision_time_sees_what_the_close_did_not() -> None:
    at_1615 = session_articles(_articles(), ["2021-03-01"], at=time(16, 15))
    assert sorted(at_1615["id"].unique()) == [1, 2]
    assert decision_time("2019-11-29") == _ny("2019-11-29 13:00")
    assert decision_time("2021-03-01", time(16, 15)) == _ny("2021-03-01 16:15")
    with pytest.raises(ValueError, match="not a XNYS session"):
        decision_time("2021-03-06", time(16, 15))


def test_nothing_published_or_updated_after_the_decision_is_visible() -> None:
    articles = _articles()
    close = decision_time("2021-03-01")
    assert sorted(visible_articles(articles, close)["id"]) == [1, 5]
    # The articles of a session do not depend on anything known after its decision.
    known_before = articles[articles["updated_at"].fillna(articles["created_at"]) < close]
    day = ["2021-03-01"]
    pd.testing.assert_frame_equal(session_articles(articles, day), session_articles(known_before, day))
    with pytest.raises(ValueError, match="tz-aware"):
        visible_articles(articles, pd.Timestamp("2021-03-01 16:00"))


def test_bad_articles_are_refused() -> None:
    articles = _articles()
    with pytest.raises(ValueError, match="tz-aware"):
        session_articles(articles.assign(created_at=pd.Timestamp("2021-03-01 10:00")), ["2021-03-01"])
    with pytest.raises(ValueError, match="updated before it was created"):
        session_articles(articles.assign(updated_at=_ny("2000-01-03 10:00")), ["2021-03-01"])
    with pytest.raises(ValueError, match="duplicate article ids"):
        session_articles(pd.concat([articles, articles.iloc[:1]]), ["2021-03-01"])
    with pytest.raises(ValueError, match="headline"):
        session_articles(articles.drop(columns="headline"), ["2021-03-01"])
    assert session_articles(articles, []).empty
