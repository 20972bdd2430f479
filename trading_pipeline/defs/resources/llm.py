"""LLM providers behind the step interfaces: the SDK clients, the per-run call settings, and Groq selection.

Where retries live, so that they never multiply:

* Transport failures (429, 5xx, timeouts, dropped connections) are retried by the SDK client alone
  (``max_retries``, exponential backoff, honouring ``retry-after``/``retry-after-ms``). When the SDK gives up,
  the call is journaled as ``error`` and the deterministic policy decides at once: re-running the op would
  only repeat the same SDK retries against a provider that is already failing.
* Answers that arrive but break the contract (malformed JSON, a strategy outside the closed set, a missing
  or unrequested symbol, a raised confidence) cannot be fixed by the SDK, so the op raises and its Dagster
  ``LLM_OP_RETRY`` (exponential backoff with jitter) asks again, telling the model why it was refused; on the
  last attempt the deterministic policy decides instead of failing the run. Valid answers from earlier
  attempts are served from the cache. Bad input (not an answer) fails the op at once, without retries.

A step therefore makes at most ``(LLM_OP_RETRY.max_retries + 1)`` content attempts per prompt, each with at
most ``max_retries + 1`` HTTP requests for transport errors, all inside the run's budget and the provider's
circuit breaker. Keys come from ``EnvVar`` only and are redacted from every message we produce.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import timedelta

import pandas as pd
from dagster import Backoff, ConfigurableResource, Jitter, RetryPolicy
from pydantic import Field

from trading_pipeline.defs.resources.selector import StrategySelector
from trading_pipeline.domain.llm.answers import SelectionAnswer, StrategyChoice, parse_selection
from trading_pipeline.domain.llm.calls import (
    Budget,
    CallRecorder,
    CircuitBreaker,
    Completion,
    LLMRun,
    Outcome,
    ProviderError,
    Request,
    Step,
    redact,
)
from trading_pipeline.domain.llm.prompts import Prompt, selection_data, selection_prompt
from trading_pipeline.domain.schema import KEY
from trading_pipeline.domain.selection import select_strategies

LLM_OP_RETRY = RetryPolicy(max_retries=2, delay=0.5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
"""The RetryPolicy of every LLM op: re-asks after an invalid answer (see the module docstring)."""

DECIDED_BY_MODEL = (str(Outcome.OK), str(Outcome.CACHED))


class LLMProvider(ConfigurableResource):
    """Model, key, endpoint and the per-run limits of one provider-backed step."""

    api_key: str = Field(description="Pass EnvVar('GROQ_API_KEY') / EnvVar('ANTHROPIC_API_KEY'); never a literal.")
    base_url: str | None = Field(default=None, description="API endpoint; None: the provider's public API.")
    max_retries: int = Field(default=2, ge=0, description="SDK retries of transport errors (429, 5xx, timeouts).")
    timeout_s: float = Field(default=60.0, gt=0)
    max_output_tokens: int = Field(default=2_048, ge=1)
    max_calls_per_run: int = Field(default=200, ge=0, description="Requests one run may make for this step.")
    max_tokens_per_run: int = Field(default=500_000, ge=0, description="Tokens one run may spend on this step.")
    breaker_failures: int = Field(default=5, ge=1, description="Consecutive failures that open the circuit.")
    breaker_cooldown_s: float = Field(default=300.0, ge=0)

    @property
    @abstractmethod
    def provider_name(self) -> str:
        """The provider as journaled and as its circuit breaker is keyed."""

    @property
    @abstractmethod
    def model_name(self) -> str: ...

    def recorder(self, run: LLMRun) -> CallRecorder:
        return CallRecorder(
            ledger=run.ledger,
            book=run.book,
            run_id=run.run_id,
            provider=self.provider_name,
            model=self.model_name,
            budget=Budget(self.max_calls_per_run, self.max_tokens_per_run),
            breaker=CircuitBreaker(self.breaker_failures, timedelta(seconds=self.breaker_cooldown_s)),
            final_attempt=run.final_attempt,
        )

    def _failure(self, exc: Exception) -> ProviderError:
        """A message naming the error and HTTP status only: SDK messages may echo request details."""
        status = getattr(exc, "status_code", None)
        detail = f"HTTP {status}" if status is not None else str(exc).splitlines()[0][:200]
        return ProviderError(redact(f"{self.provider_name} {type(exc).__name__}: {detail}", [self.api_key]))


class GroqChat(LLMProvider):
    """Groq's OpenAI-compatible chat completions in JSON mode."""

    model: str = Field(default="llama-3.3-70b-versatile")
    max_output_tokens: int = Field(default=8_192, ge=1, description="Room for one choice per symbol of a request.")

    @property
    def provider_name(self) -> str:
        return "groq"

    @property
    def model_name(self) -> str:
        return self.model

    def send(self, prompt: Prompt) -> Completion:
        import groq  # the SDKs cost ~1.3 s of start-up together; only a configured provider needs one

        client = groq.Groq(
            api_key=self.api_key, base_url=self.base_url, max_retries=self.max_retries, timeout=self.timeout_s
        )
        try:
            response = client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}],
                temperature=0,
                max_tokens=self.max_output_tokens,
                response_format={"type": "json_object"},
            )
        except groq.APIError as exc:
            raise self._failure(exc) from None
        finally:
            client.close()
        usage = response.usage
        text = response.choices[0].message.content if response.choices else None
        return Completion(
            text or "", int(usage.prompt_tokens) if usage else 0, int(usage.completion_tokens) if usage else 0
        )


class AnthropicChat(LLMProvider):
    """Anthropic's Messages API."""

    model: str = Field(default="claude-sonnet-5-5")

    @property
    def provider_name(self) -> str:
        return "anthropic"

    @property
    def model_name(self) -> str:
        return self.model

    def send(self, prompt: Prompt) -> Completion:
        import anthropic  # see GroqChat.send

        client = anthropic.Anthropic(
            api_key=self.api_key, base_url=self.base_url, max_retries=self.max_retries, timeout=self.timeout_s
        )
        try:
            message = client.messages.create(
                model=self.model,
                max_tokens=self.max_output_tokens,
                system=prompt.system,
                messages=[{"role": "user", "content": prompt.user}],
            )
        except anthropic.APIError as exc:
            raise self._failure(exc) from None
        finally:
            client.close()
        text = "".join(block.text for block in message.content if block.type == "text")
        return Completion(text, int(message.usage.input_tokens), int(message.usage.output_tokens))


class GroqSelector(StrategySelector, GroqChat):
    """Groq chooses each symbol's strategy, one request per session (chunked when the universe is large);
    whatever it cannot decide validly, the deterministic policy decides, and the row says so."""

    max_symbols_per_request: int = Field(
        default=50,
        ge=1,
        description="Symbols per request: the answer (~60 tokens a symbol) must fit max_output_tokens.",
    )

    @property
    def provider(self) -> str:
        return f"groq/{self.model}"

    def select(self, context: pd.DataFrame, available: Sequence[str], run: LLMRun | None = None) -> pd.DataFrame:
        if run is None:
            raise ValueError("GroqSelector journals every call: it needs the run's journal (LLMRun)")
        rules = select_strategies(context, available).set_index(KEY)
        data = selection_data(context)
        rows: list[pd.DataFrame] = []
        with self.recorder(run) as recorder:
            for session, day in data.groupby("date", sort=True):
                for start in range(0, len(day), self.max_symbols_per_request):
                    chunk = day.iloc[start : start + self.max_symbols_per_request]
                    rows.append(self._decide(recorder, pd.Timestamp(session), chunk, rules, available))
        if not rows:
            return pd.DataFrame(columns=[*KEY, "strategy", "reason", "provider", "outcome"])
        return pd.concat(rows, ignore_index=True)

    def _decide(
        self,
        recorder: CallRecorder,
        session: pd.Timestamp,
        chunk: pd.DataFrame,
        rules: pd.DataFrame,
        available: Sequence[str],
    ) -> pd.DataFrame:
        symbols = chunk["symbol"].astype(str).tolist()
        fallback = rules.loc[[(session, s) for s in symbols]]

        def deterministic() -> SelectionAnswer:
            return SelectionAnswer(
                choices=[
                    StrategyChoice(symbol=s, strategy=str(r.strategy), reason=str(r.reason))
                    for s, r in zip(symbols, fallback.itertuples(), strict=True)
                ]
            )

        decision = recorder.ask(
            Request(
                step=Step.SELECTION,
                session=session.date(),
                prompt=selection_prompt(session.date().isoformat(), chunk, available),
                send=self.send,
                parse=lambda text: parse_selection(text, available, symbols),
                encode=lambda answer: answer.model_dump_json(),
                fallback=deterministic,
            )
        )
        by_model = str(decision.outcome) in DECIDED_BY_MODEL
        choices = {c.symbol: c for c in decision.value.choices}
        return pd.DataFrame(
            {
                "date": session,
                "symbol": symbols,
                "strategy": [choices[s].strategy for s in symbols],
                "reason": [
                    choices[s].reason if by_model else f"{choices[s].reason} (LLM fallback: {decision.reason})"
                    for s in symbols
                ],
                "provider": self.provider if by_model else "rules",
                "outcome": str(decision.outcome),
            }
        )
