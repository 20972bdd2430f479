"""LLM steps through whole Dagster runs: the real groq/anthropic SDKs against local servers, the ops'
RetryPolicy, fallback, cache, budget, replay, look-ahead flag, and no key anywhere it could leak."""

import json
from pathlib import Path

import pandas as pd
import pytest
from dagster import Backoff, EnvVar, Jitter

from trading_pipeline.definitions import defs
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.llm import GroqSelector
from trading_pipeline.defs.resources.narrative import AnthropicNarrator
from trading_pipeline.defs.resources.review import AnthropicReviewer
from trading_pipeline.defs.resources.selector import ReplaySelector
from trading_pipeline_tests.cycles import run_cycle
from trading_pipeline_tests.fakes.llm_servers import (
    Reply,
    ScriptedLLMServer,
    anthropic_message,
    error_reply,
    groq_choosing,
    groq_completion,
)

START, END = "2012-03-01", "2012-03-09"
SESSIONS = 7
GROQ_KEY = "gsk_cycle_secret_7f3a9c1e5b"
ANTHROPIC_KEY = "sk-ant-cycle-secret-4d2b8e6f0a"
SELECT_STEP = "strategy_selection.select_strategies"


@pytest.fixture(autouse=True)
def _keys(monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", GROQ_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)


def _groq(server, **kwargs) -> GroqSelector:
    return GroqSelector(api_key=EnvVar("GROQ_API_KEY"), base_url=server.base_url, **kwargs)


def _retries(run, step_key: str) -> int:
    return sum(1 for e in run.result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY" and e.step_key == step_key)


def _metadata(run, asset: str) -> dict:
    events = [e for e in run.result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {k: getattr(v, "value", v) for k, v in events[-1].materialization.metadata.items()}


def test_every_llm_step_is_an_op_with_an_exponential_jittered_retry_policy():
    for asset, op_name in [
        ("strategy_selection", "select_strategies"),
        ("validated_signals", "review_signals"),
        ("audit_report", "write_audit"),
    ]:
        ops = {node.name: node for node in defs.resolve_assets_def(asset).node_def.node_defs}
        policy = ops[op_name].retry_policy
        assert policy is not None and policy.max_retries >= 1, asset
        assert policy.backoff == Backoff.EXPONENTIAL and policy.jitter == Jitter.PLUS_MINUS, asset
    for name in ("selector", "reviewer", "narrator"):  # the defaults are offline: no key, no network
        assert type(defs.resources[name]).__name__ in {"RuleBasedSelector", "NoReview", "TemplateNarrator"}


def test_groq_decides_each_session_in_one_request_journaled_cached_and_replayable(instance):
    with ScriptedLLMServer(groq_choosing("Breakout")) as server:
        live = run_cycle(instance, START, END, selector=_groq(server), trading=TradingBook(book="live"))
        after_live = len(server.requests)
        again = run_cycle(instance, START, END, selector=_groq(server), trading=TradingBook(book="again"))
        after_again = len(server.requests)
        replay = run_cycle(
            instance, START, END, selector=ReplaySelector(source_book="live"), trading=TradingBook(book="replay")
        )
    assert live.result.success and again.result.success and replay.result.success
    # A valid answer: one batched request per session, every call journaled with tokens and latency.
    assert after_live == SESSIONS
    choices = live.table("strategy_choices")
    assert (choices["strategy"] == "Breakout").all() and (choices["outcome"] == "ok").all()
    assert (choices["provider"] == "groq/llama-3.3-70b-versatile").all()
    calls = live.table("llm_calls")
    assert len(calls) == SESSIONS and (calls["outcome"] == "ok").all()
    assert (calls["input_tokens"] == 321).all() and (calls["output_tokens"] == 45).all()
    assert (calls["latency_ms"] > 0).all() and calls["prompt_hash"].nunique() == SESSIONS
    report = _metadata(live, "performance_report")
    assert report["lookahead_exposed"] is True and "decided 7 session(s) after they closed" in report["lookahead"]
    # An identical context is served from the cache: no request, no tokens.
    assert after_again == SESSIONS
    assert (again.table("llm_calls")["outcome"] == "cached").all()
    assert (again.table("llm_calls")["input_tokens"] == 0).all()
    # Replay mode: the recorded decisions, no model, the same orders.
    replayed = replay.table("strategy_choices")
    pd.testing.assert_frame_equal(
        choices[["session", "symbol", "strategy"]], replayed[["session", "symbol", "strategy"]]
    )
    assert (replayed["outcome"] == "replay").all() and replay.table("llm_calls").empty
    order_columns = ["session", "symbol", "side", "qty"]
    assert len(live.table("orders")) > 0
    pd.testing.assert_frame_equal(live.table("orders")[order_columns], replay.table("orders")[order_columns])
    assert _metadata(replay, "performance_report")["lookahead_exposed"] is True  # replayed LLM decisions
    assert (
        _metadata(run_cycle(instance, START, END, trading=TradingBook(book="rules")), "performance_report")[
            "lookahead_exposed"
        ]
        is False
    )


def test_invalid_json_is_retried_by_the_op_retry_policy_then_the_valid_answer_decides(instance):
    with ScriptedLLMServer(groq_choosing("Breakout")) as server:
        server.script(groq_completion("Sure! Here is my choice: Breakout for all."))
        run = run_cycle(instance, START, END, selector=_groq(server))
    assert run.result.success
    assert _retries(run, SELECT_STEP) == 1
    calls = run.table("llm_calls")
    assert calls["outcome"].tolist()[:2] == ["invalid", "ok"]
    assert "Invalid JSON" in calls["error"].iloc[0]
    # The retry tells the model why it was refused; the cache key stays the context's.
    assert "previous_rejection" not in server.requests[0].user_data
    assert "Invalid JSON" in server.requests[1].user_data["previous_rejection"]
    assert calls["prompt_hash"].iloc[0] == calls["prompt_hash"].iloc[1]
    assert (run.table("strategy_choices")["outcome"] == "ok").all()


def test_an_out_of_set_strategy_is_retried_then_the_deterministic_policy_decides(instance):
    rules = run_cycle(instance, START, END, trading=TradingBook(book="rules"))
    with ScriptedLLMServer(groq_choosing("BuyEverything")) as server:
        run = run_cycle(instance, START, END, selector=_groq(server), trading=TradingBook(book="llm"))
    assert run.result.success
    assert _retries(run, SELECT_STEP) == 2
    # The first session on each of the three attempts, then two more sessions: five consecutive refusals
    # open the provider's circuit and the remaining sessions are decided without a request.
    assert len(server.requests) == 5
    choices = run.table("strategy_choices")
    assert (choices["outcome"] == "fallback").all() and (choices["provider"] == "rules").all()
    assert rules.table("strategy_choices").empty  # the deterministic policy's choices are recomputed, not journaled
    decided = rules.result.output_for_node("strategy_selection").sort_values(["date", "symbol"], kind="stable")
    assert choices["strategy"].tolist() == decided["strategy"].tolist()
    assert choices["reason"].str.contains("(LLM fallback: ", regex=False).all()
    first = choices[choices["session"] == choices["session"].min()]
    assert first["reason"].str.contains("strategies outside the allowed set: ['BuyEverything']", regex=False).all()
    calls = run.table("llm_calls")
    assert calls["outcome"].tolist() == ["invalid", "invalid"] + ["invalid", "fallback"] * 3 + ["fallback"] * 4
    assert calls["error"].iloc[-1].startswith("circuit open after 5 consecutive failures")
    pd.testing.assert_frame_equal(
        run.table("orders")[["session", "symbol", "side", "qty"]],
        rules.table("orders")[["session", "symbol", "side", "qty"]],
    )


def test_a_provider_that_keeps_failing_leaves_the_policy_deciding_and_the_run_completes(instance):
    with ScriptedLLMServer(error_reply(500, retry_after_ms=1)) as server:
        run = run_cycle(instance, START, END, selector=_groq(server, max_retries=1))
    assert run.result.success and _retries(run, SELECT_STEP) == 0  # the SDK retried; the op did not
    assert len(server.requests) == 5 * 2  # five sessions x (1 + 1 SDK retry), then the circuit is open
    choices = run.table("strategy_choices")
    assert (choices["outcome"] == "fallback").all()
    outcomes = run.table("llm_calls")["outcome"].tolist()
    assert outcomes == ["error", "fallback"] * 5 + ["fallback", "fallback"]
    assert len(run.table("equity")) == SESSIONS


def test_a_spent_budget_makes_the_rest_of_the_run_fall_back(instance):
    with ScriptedLLMServer(groq_choosing("Breakout")) as server:
        run = run_cycle(instance, START, END, selector=_groq(server, max_calls_per_run=3))
    assert run.result.success and len(server.requests) == 3
    assert run.table("llm_calls")["outcome"].tolist() == ["ok"] * 3 + ["budget"] * 4
    by_session = run.table("strategy_choices").groupby("session")["outcome"].first()
    assert by_session.tolist() == ["ok"] * 3 + ["budget"] * 4


def _veto_everything(request):
    reviews = [{"symbol": s["symbol"], "veto": True, "reason": "reviewer veto"} for s in request.user_data["signals"]]
    return anthropic_message(json.dumps({"reviews": reviews}))


def test_the_review_can_veto_every_signal_and_the_audit_is_narrated_and_stored(instance):
    start, end = START, END
    with (
        ScriptedLLMServer(_veto_everything) as review_server,
        ScriptedLLMServer(anthropic_message("The desk held steady.")) as audit_server,
    ):
        run = run_cycle(
            instance,
            start,
            end,
            trading=TradingBook(book="reviewed"),
            reviewer=AnthropicReviewer(api_key=EnvVar("ANTHROPIC_API_KEY"), base_url=review_server.base_url),
            narrator=AnthropicNarrator(api_key=EnvVar("ANTHROPIC_API_KEY"), base_url=audit_server.base_url),
        )
    assert run.result.success
    assert run.table("orders").empty  # every actionable signal vetoed: nothing sized, nothing sent
    assert _metadata(run, "validated_signals")["vetoed"] > 0
    reports = run.table("audit_reports")
    assert len(reports) == len(run.table("equity")) and (reports["provider"] == "anthropic").all()
    assert reports["markdown"].str.startswith("The desk held steady.").all()
    assert reports["markdown"].str.contains("Figures from the journal").all()
    assert "The desk held steady." in _metadata(run, "audit_report")["narrative"]


def test_keys_never_reach_logs_metadata_or_the_journal(instance, capfd):
    leaky_401 = Reply(
        401,
        {"type": "error", "error": {"type": "authentication_error", "message": f"invalid x-api-key {ANTHROPIC_KEY}"}},
    )
    with ScriptedLLMServer(groq_choosing("Breakout")) as groq_server, ScriptedLLMServer(leaky_401) as anthropic_server:
        run = run_cycle(
            instance,
            START,
            END,
            selector=_groq(groq_server),
            reviewer=AnthropicReviewer(api_key=EnvVar("ANTHROPIC_API_KEY"), base_url=anthropic_server.base_url),
            narrator=AnthropicNarrator(api_key=EnvVar("ANTHROPIC_API_KEY"), base_url=anthropic_server.base_url),
        )
    assert run.result.success
    assert groq_server.requests[0].headers["authorization"] == f"Bearer {GROQ_KEY}"  # the keys were used...
    errors = run.table("llm_calls")["error"].dropna()
    assert errors.str.contains("AuthenticationError: HTTP 401").any()
    captured = capfd.readouterr()
    for key in (GROQ_KEY, ANTHROPIC_KEY):  # ...and are nowhere: output, event log, journal, any stored file
        assert key not in captured.out and key not in captured.err
        for entry in instance.all_logs(run.result.run_id):
            assert key not in str(entry)
        for path in Path(instance.root_directory).rglob("*"):
            if path.is_file():
                assert key.encode() not in path.read_bytes(), path


def test_replaying_a_range_that_was_never_recorded_fails_at_once_with_its_reason(instance):
    run = run_cycle(instance, START, END, selector=ReplaySelector(source_book="never-recorded"))
    assert not run.result.success and _retries(run, SELECT_STEP) == 0  # bad input is not retried
    failure = next(e for e in run.result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == SELECT_STEP
    assert "book 'never-recorded' has no recorded choice" in failure.event_specific_data.error.message
