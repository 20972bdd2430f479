"""One LLM call, journaled: cache → budget → circuit breaker → provider → validation → fallback.

Every outcome is one ``llm_calls`` row (provider, model, prompt hash, tokens, latency, outcome, decision):
``ok`` valid answer, ``invalid`` answer rejected (reason in ``error``), ``error`` transport failure after the
SDK's own retries, ``cached`` served from an earlier valid answer to the identical prompt (no request),
``budget`` the run's budget is spent, ``fallback`` the deterministic policy decided (after an error, a last
invalid answer, or an open circuit). Rows are buffered and written in one batch when the recorder closes, and
the buffer counts for the budget, the cache and the breaker meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import pandas as pd

from trading_pipeline.domain.llm.answers import InvalidAnswer
from trading_pipeline.domain.llm.prompts import Prompt


class Outcome(StrEnum):
    OK = "ok"
    INVALID = "invalid"
    ERROR = "error"
    FALLBACK = "fallback"
    CACHED = "cached"
    BUDGET = "budget"


class Step(StrEnum):
    SELECTION = "selection"
    REVIEW = "review"
    AUDIT = "audit"
    SENTIMENT = "sentiment"
    DISCOVERY = "discovery"


# Outcomes that are real requests to the provider: they spend the budget and feed the circuit breaker.
REQUEST_OUTCOMES = frozenset({Outcome.OK, Outcome.INVALID, Outcome.ERROR})
PROVIDER_FAILURES = frozenset({Outcome.INVALID, Outcome.ERROR})
# How a journaled strategy choice was made: by the model (ok, cached), by the deterministic policy in its place
# (fallback, budget), by the deterministic selector itself (rules), or replayed from a recorded run (replay).
RULES_OUTCOME, REPLAY_OUTCOME = "rules", "replay"
CHOICE_OUTCOMES = frozenset(
    {Outcome.OK, Outcome.CACHED, Outcome.FALLBACK, Outcome.BUDGET, RULES_OUTCOME, REPLAY_OUTCOME}
)


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int


class ProviderError(RuntimeError):
    """The provider could not answer (after the SDK's retries); the message is already free of secrets."""


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced by ***, so that no key reaches a log, the journal or an error."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class Budget:
    """The most requests and tokens one run may spend on one step; past it the deterministic policy decides."""

    max_calls: int
    max_tokens: int

    def exhausted(self, calls: int, tokens: int) -> str | None:
        if calls >= self.max_calls:
            return f"budget spent: {calls} of {self.max_calls} calls this run"
        if tokens >= self.max_tokens:
            return f"budget spent: {tokens} of {self.max_tokens} tokens this run"
        return None


@dataclass(frozen=True)
class CircuitBreaker:
    """After ``threshold`` consecutive failures of a provider, it is not called until ``cooldown`` has passed
    since the last one; the next call then probes it (a failure re-opens the circuit at once)."""

    threshold: int = 5
    cooldown: timedelta = timedelta(minutes=5)

    def open_until(self, history: Sequence[tuple[str, datetime]], now: datetime) -> datetime | None:
        """``history``: the provider's request outcomes, oldest first. None when the circuit is closed."""
        failures = 0
        for outcome, _at in reversed(history):
            if outcome not in PROVIDER_FAILURES:
                break
            failures += 1
        if failures < self.threshold:
            return None
        until = history[-1][1] + self.cooldown
        return until if until > now else None


class CallLedger(Protocol):
    """What the recorder needs from the journal."""

    def cached_llm_decision(self, step: str, prompt_hash: str) -> str | None: ...

    def llm_usage(self, run_id: str, step: str) -> tuple[int, int]: ...

    def last_llm_rejection(self, run_id: str, step: str, prompt_hash: str) -> str | None: ...

    def recent_llm_outcomes(self, provider: str, limit: int) -> list[tuple[str, datetime]]: ...

    def record_llm_calls(self, book: str, run_id: str, rows: pd.DataFrame) -> int: ...

    def recorded_choices(self, book: str, start: date, end: date) -> pd.DataFrame:
        """The strategy choices journaled for ``book`` in [start, end] (what a replay serves)."""
        ...


@dataclass(frozen=True)
class LLMRun:
    """What an LLM step needs from its orchestrator: the call ledger, the book, the run, and whether this attempt
    is the last one the step's retry policy allows (then an invalid answer falls back instead of raising)."""

    ledger: CallLedger
    book: str
    run_id: str
    final_attempt: bool


@dataclass(frozen=True)
class Decision[T]:
    value: T
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class Request[T]:
    """One question: how to send it, how to validate the answer, and what decides if the model cannot."""

    step: Step
    session: date | None
    prompt: Prompt
    send: Callable[[Prompt], Completion]
    parse: Callable[[str], T]
    encode: Callable[[T], str]
    fallback: Callable[[], T]


@dataclass
class CallRecorder:
    """The LLM calls of one step attempt of one run.

    ``final_attempt`` False: an invalid answer raises ``InvalidAnswer`` so that the op's RetryPolicy asks again;
    True: the fallback decides. Transport errors never raise: the SDK has already retried them.
    """

    ledger: CallLedger
    book: str
    run_id: str
    provider: str
    model: str
    budget: Budget
    breaker: CircuitBreaker
    final_attempt: bool
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _rows: list[dict[str, Any]] = field(default_factory=list)
    _usage: dict[str, list[int]] = field(default_factory=dict)
    _history: list[tuple[str, datetime]] | None = None

    def __enter__(self) -> CallRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def flush(self) -> None:
        if self._rows:
            rows, self._rows = pd.DataFrame(self._rows), []
            self.ledger.record_llm_calls(self.book, self.run_id, rows)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows not yet flushed (for metadata)."""
        return list(self._rows)

    def ask[T](self, request: Request[T]) -> Decision[T]:
        digest = request.prompt.digest(self.provider, self.model)
        cached = self._cached(request.step, digest)
        if cached is not None:
            value = request.parse(cached)
            self._record(request, digest, Outcome.CACHED, decision=cached)
            return Decision(value, Outcome.CACHED, "served from the cache of an identical prompt")

        calls, tokens = self._spent(request.step)
        spent = self.budget.exhausted(calls, tokens)
        if spent:
            return self._fall_back(request, digest, Outcome.BUDGET, spent)
        now = self.clock()
        open_until = self.breaker.open_until(self._provider_history(), now)
        if open_until is not None:
            reason = f"circuit open after {self.breaker.threshold} consecutive failures, until {open_until.isoformat()}"
            return self._fall_back(request, digest, Outcome.FALLBACK, reason)

        rejection = self._rejection(request.step, digest)
        sent = request.prompt if rejection is None else request.prompt.with_rejection(rejection)
        started = time.perf_counter()
        try:
            completion = request.send(sent)
        except ProviderError as exc:
            latency = _ms(started)
            self._record(request, digest, Outcome.ERROR, latency_ms=latency, error=str(exc))
            return self._fall_back(request, digest, Outcome.FALLBACK, f"provider error: {exc}")
        latency = _ms(started)
        usage = (completion.input_tokens, completion.output_tokens, latency)
        try:
            value = request.parse(completion.text)
        except InvalidAnswer as exc:
            self._record(request, digest, Outcome.INVALID, *usage, error=exc.reason)
            if not self.final_attempt:
                raise
            return self._fall_back(request, digest, Outcome.FALLBACK, f"invalid answer: {exc.reason}")
        encoded = request.encode(value)
        self._record(request, digest, Outcome.OK, *usage, decision=encoded)
        return Decision(value, Outcome.OK, "answered")

    def _fall_back[T](self, request: Request[T], digest: str, outcome: Outcome, reason: str) -> Decision[T]:
        value = request.fallback()
        self._record(request, digest, outcome, decision=request.encode(value), error=reason, provider="rules")
        return Decision(value, outcome, reason)

    def _record(
        self,
        request: Request[Any],
        digest: str,
        outcome: Outcome,
        input_tokens: int = 0,
        output_tokens: int = 0,
        latency_ms: float = 0.0,
        decision: str | None = None,
        error: str | None = None,
        provider: str | None = None,
    ) -> None:
        at = self.clock()
        row = {
            "book": self.book,
            "run_id": self.run_id,
            "session": request.session,
            "step": str(request.step),
            "provider": provider or self.provider,
            "model": self.model if provider is None else "deterministic",
            "prompt_hash": digest,
            "input_tokens": float(input_tokens),
            "output_tokens": float(output_tokens),
            "latency_ms": float(latency_ms),
            "outcome": str(outcome),
            "decision": decision,
            "error": error,
            "created_at": at,
        }
        self._rows.append(row)
        if outcome in REQUEST_OUTCOMES:
            used = self._usage.setdefault(str(request.step), [0, 0])
            used[0] += 1
            used[1] += input_tokens + output_tokens
            self._provider_history().append((str(outcome), at))

    def _cached(self, step: Step, digest: str) -> str | None:
        for row in reversed(self._rows):
            if row["prompt_hash"] == digest and row["step"] == str(step) and row["outcome"] == Outcome.OK:
                return row["decision"]
        return self.ledger.cached_llm_decision(str(step), digest)

    def _rejection(self, step: Step, digest: str) -> str | None:
        """Why this run's previous answer to the same prompt was refused (an earlier attempt of the op), if it was."""
        for row in reversed(self._rows):
            if row["prompt_hash"] == digest and row["step"] == str(step) and row["outcome"] == Outcome.INVALID:
                return row["error"]
        return self.ledger.last_llm_rejection(self.run_id, str(step), digest)

    def _spent(self, step: Step) -> tuple[int, int]:
        if str(step) not in self._usage:
            self._usage[str(step)] = list(self.ledger.llm_usage(self.run_id, str(step)))
        calls, tokens = self._usage[str(step)]
        return calls, tokens

    def _provider_history(self) -> list[tuple[str, datetime]]:
        if self._history is None:
            self._history = self.ledger.recent_llm_outcomes(self.provider, self.breaker.threshold)
        return self._history


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)
