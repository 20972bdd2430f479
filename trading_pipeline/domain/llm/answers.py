"""The answers an LLM may give, validated against the closed set of strategies and the requested symbols.

Validation needs the request (allowed strategies, requested symbols, current confidences), which pydantic
receives through its validation ``context``; an answer that breaks any rule raises ``InvalidAnswer`` with
the reason, never a partially applied result.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

MAX_REASON_CHARS = 500
MAX_NARRATIVE_CHARS = 8_000
_FENCE = re.compile(r"^```(?:json)?\s*\n(?P<body>.*)\n```$", re.DOTALL)


class InvalidAnswer(ValueError):
    """The model answered, but the answer breaks the contract (malformed JSON, unknown strategy, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StrictAnswer(BaseModel):
    """An answer model that refuses unknown keys and strips its strings (every LLM answer is one)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class StrategyChoice(StrictAnswer):
    symbol: str = Field(min_length=1)
    strategy: str = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)


class SelectionAnswer(StrictAnswer):
    """One choice per requested symbol, each strategy from the allowed set; nothing else (no actions, no sizes)."""

    choices: list[StrategyChoice]

    @model_validator(mode="after")
    def _closed_sets(self, info: ValidationInfo) -> SelectionAnswer:
        if not info.context:  # built by our own code (the fallback), not parsed from a model
            return self
        allowed: Collection[str] = info.context["allowed"]
        symbols: Collection[str] = info.context["symbols"]
        unknown = sorted({c.strategy for c in self.choices} - set(allowed))
        if unknown:
            raise ValueError(f"strategies outside the allowed set: {unknown}")
        named = Counter(c.symbol for c in self.choices)
        repeated = sorted(s for s, n in named.items() if n > 1)
        extra = sorted(set(named) - set(symbols))
        missing = sorted(set(symbols) - set(named))
        problems = [
            f"{label}: {values[:10]}"
            for label, values in (
                ("repeated symbols", repeated),
                ("unrequested symbols", extra),
                ("missing symbols", missing),
            )
            if values
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class SignalReview(StrictAnswer):
    """A reviewer may lower one signal's confidence or veto it (the action becomes HOLD), always with a reason."""

    symbol: str = Field(min_length=1)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    veto: bool = False
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)


class ReviewAnswer(StrictAnswer):
    reviews: list[SignalReview]

    @model_validator(mode="after")
    def _only_lower(self, info: ValidationInfo) -> ReviewAnswer:
        if not info.context:
            return self
        current: Mapping[str, float] = info.context["confidence"]
        named = Counter(r.symbol for r in self.reviews)
        extra = sorted(set(named) - set(current))
        repeated = sorted(s for s, n in named.items() if n > 1)
        raised = sorted(
            r.symbol
            for r in self.reviews
            if r.symbol in current and r.confidence is not None and r.confidence > current[r.symbol] + 1e-12
        )
        problems = [
            f"{label}: {values[:10]}"
            for label, values in (
                ("signals not under review", extra),
                ("reviewed twice", repeated),
                ("confidence raised (a review may only lower it)", raised),
            )
            if values
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class AuditNarrative(StrictAnswer):
    markdown: str = Field(min_length=1, max_length=MAX_NARRATIVE_CHARS)


def parse_selection(text: str, allowed: Collection[str], symbols: Collection[str]) -> SelectionAnswer:
    return parse_answer(SelectionAnswer, text, {"allowed": allowed, "symbols": symbols})


def parse_review(text: str, confidence: Mapping[str, float]) -> ReviewAnswer:
    return parse_answer(ReviewAnswer, text, {"confidence": confidence})


def parse_narrative(text: str) -> AuditNarrative:
    """The narrative is free Markdown: it only has to be present and of a sane length."""
    try:
        return AuditNarrative(markdown=text.strip())
    except ValidationError as exc:
        raise InvalidAnswer(_summary(exc)) from None


def parse_answer[M: BaseModel](model: type[M], text: str, context: Mapping[str, object]) -> M:
    """``text`` (bare or in a json code fence) as ``model``, validated with ``context``; ``InvalidAnswer`` with a
    summary of the errors that never echoes the input."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group("body")
    try:
        return model.model_validate_json(body, context=dict(context))
    except ValidationError as exc:
        raise InvalidAnswer(_summary(exc)) from None


def _summary(exc: ValidationError) -> str:
    """The first few errors, without echoing the (possibly huge or hostile) input."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN: a missing feature goes to the model as null."""
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value
