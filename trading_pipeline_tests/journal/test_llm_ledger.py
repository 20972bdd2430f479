"""The journal's LLM tables: strategy choices and audit reports replace per (book, sessions); LLM calls append."""

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from trading_pipeline.domain.llm.audit import session_facts, template_narrative
from trading_pipeline.journal import Journal


@pytest.fixture
def journal(tmp_path) -> Journal:
    j = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    j.create_schema()
    return j


def _choices(sessions, symbols=("AAPL", "IBM"), strategy="Breakout", outcome="rules") -> pd.DataFrame:
    rows = [(pd.Timestamp(s), sym) for s in sessions for sym in symbols]
    return pd.DataFrame(
        {
            "session": [r[0] for r in rows],
            "symbol": [r[1] for r in rows],
            "strategy": strategy,
            "provider": "rules",
            "outcome": outcome,
            "reason": "trending_up: adx14=31.0",
        }
    )


def test_strategy_choices_replace_their_sessions_and_are_counted_in_the_database(journal):
    days = ["2012-03-01", "2012-03-02"]
    journal.replace_strategy_choices("bk", days, _choices(days), "r1")
    journal.replace_strategy_choices("bk", days[1:], _choices(days[1:], strategy="MeanReversion"), "r2")
    table = journal.read("strategy_choices", book="bk")
    assert len(table) == 4 and table.groupby("session")["strategy"].first().tolist() == ["Breakout", "MeanReversion"]
    counts = journal.strategy_choice_counts("bk", start="2012-03-02")
    assert counts[["strategy", "rows"]].values.tolist() == [["MeanReversion", 2]]
    with pytest.raises(ValueError, match="outcome"):
        journal.replace_strategy_choices("bk", days, _choices(days, outcome="guess"), "r3")
    with pytest.raises(ValueError, match="unique"):
        journal.replace_strategy_choices("bk", days, pd.concat([_choices(days), _choices(days)]), "r3")
    assert len(journal.read("strategy_choices", book="bk")) == 4  # a refused frame leaves the journal as it was


def test_llm_calls_append_and_accept_a_call_without_session(journal):
    row = {
        "session": [date(2012, 3, 1), None],
        "step": ["selection", "audit"],
        "provider": "groq",
        "model": "m",
        "prompt_hash": "h",
        "input_tokens": [10.0, 0.0],
        "output_tokens": [5.0, 0.0],
        "latency_ms": [12.5, 0.0],
        "outcome": ["ok", "cached"],
        "decision": ['{"choices": []}', None],
        "error": [None, None],
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    journal.llm_calls.record_llm_calls("bk", "r1", pd.DataFrame(row))
    journal.llm_calls.record_llm_calls("bk", "r1", pd.DataFrame(row))
    calls = journal.read("llm_calls", book="bk")
    assert len(calls) == 4 and calls["session"].isna().sum() == 2
    assert journal.llm_calls.llm_usage("r1", "selection") == (2, 30)
    assert journal.llm_calls.cached_llm_decision("selection", "h") == '{"choices": []}'
    assert journal.llm_calls.cached_llm_decision("review", "h") is None
    assert [o for o, _ in journal.llm_calls.recent_llm_outcomes("groq", 5)] == [
        "ok",
        "ok",
    ]  # cache hits are no requests
    journal.llm_calls.record_llm_calls("bk", "r1", pd.DataFrame(row).iloc[[1]])  # only calls without a session
    assert journal.read("llm_calls", book="bk")["session"].isna().sum() == 3
    with pytest.raises(ValueError, match="outcome"):
        journal.llm_calls.record_llm_calls("bk", "r1", pd.DataFrame(row).assign(outcome="maybe"))


def test_audit_narrative_from_the_journal_facts(journal):
    days = [date(2012, 3, 1), date(2012, 3, 2)]
    journal.replace_strategy_choices("bk", days, _choices(days), "r1")
    equity = pd.DataFrame(
        {
            "session": pd.to_datetime(["2012-02-29", "2012-03-01", "2012-03-02"]),
            "equity": [100_000.0, 100_500.0, 99_900.0],
            "cash": [100_000.0, 50_000.0, 49_000.0],
            "drawdown": [0.0, 0.0, -0.006],
        }
    )
    fills = pd.DataFrame(
        {
            "session": pd.to_datetime(["2012-03-02"]),
            "symbol": ["AAPL"],
            "side": ["buy"],
            "qty": [10.0],
            "price": [545.17],
            "commission": [1.0],
        }
    )
    events = pd.DataFrame(
        {
            "session": pd.to_datetime(["2012-03-02"]),
            "symbol": ["IBM"],
            "rule": ["max_position_pct"],
            "action": ["clipped"],
            "value": [0.25],
            "limit_value": [0.2],
            "message": ["clipped to 20%"],
        }
    )
    facts = session_facts(
        "bk", days, journal.strategy_choice_counts("bk"), pd.DataFrame(columns=["session"]), fills, events, equity
    )
    text = template_narrative(facts[date(2012, 3, 2)])
    assert "## Audit of bk on 2012-03-02" in text
    assert "**Decisions**: 2 symbol choices (Breakout 2); decided by rules/rules 2." in text
    assert "buy 10 AAPL @ 545.17" in text and "max_position_pct clipped" in text
    assert "-600.00" in text and "99,900.00" in text
    assert "+500.00" in template_narrative(facts[date(2012, 3, 1)])
    journal.replace_audit_reports(
        "bk",
        days,
        pd.DataFrame(
            {
                "session": days,
                "markdown": [template_narrative(facts[d]) for d in days],
                "provider": "template",
                "model": "deterministic",
            }
        ),
        "r1",
    )
    journal.replace_audit_reports(
        "bk",
        days[1:],
        pd.DataFrame({"session": days[1:], "markdown": ["again"], "provider": "template", "model": "deterministic"}),
        "r2",
    )
    assert journal.read("audit_reports", book="bk")["markdown"].tolist()[1] == "again"
