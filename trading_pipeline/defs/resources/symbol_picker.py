"""The LLM picker of symbol discovery: one interface, the deterministic offline ranking by default, Groq or Anthropic
when a key is set. A model call goes through the same journal, cache, budget, circuit breaker and fallback as every
LLM step (``llm.py``); its answer must be a ranked subset of exactly the session's candidates, and whatever the
model cannot answer validly, the offline ranking answers (each pick's reason says so)."""

from __future__ import annotations

from abc import abstractmethod

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from trading_pipeline.defs.resources.llm import DECIDED_BY_MODEL, AnthropicChat, GroqChat
from trading_pipeline.domain.discovery.llm_picker import (
    MAX_PICKS,
    answer_picks,
    discovery_prompt,
    offline_picks,
    offline_ranking,
    parse_picks,
)
from trading_pipeline.domain.discovery.picks import PICK_COLUMNS
from trading_pipeline.domain.llm.calls import CallRecorder, LLMRun, Request, Step

OFFLINE_OUTCOME = "offline"


class SymbolPicker(ConfigurableResource):
    """Ranks each session's candidates (rows of the discovery features): ``PICK_COLUMNS`` plus ``outcome``."""

    max_picks: int = Field(default=MAX_PICKS, ge=1, description="Symbols ranked per session at most.")

    @property
    @abstractmethod
    def provider(self) -> str:
        """A short name for metadata (never a key)."""

    @abstractmethod
    def pick(self, candidates: pd.DataFrame, run: LLMRun | None = None) -> pd.DataFrame: ...


class OfflinePicker(SymbolPicker):
    """The deterministic ranking (momentum per unit of volatility): the offline default and every model's fallback."""

    @property
    def provider(self) -> str:
        return "offline"

    def pick(self, candidates: pd.DataFrame, run: LLMRun | None = None) -> pd.DataFrame:
        return offline_picks(candidates, self.max_picks).assign(outcome=OFFLINE_OUTCOME)


class _ModelPicker(SymbolPicker):
    """One request per session with its candidates as JSON data; needs a ``send`` (GroqChat, AnthropicChat)."""

    def pick(self, candidates: pd.DataFrame, run: LLMRun | None = None) -> pd.DataFrame:
        if run is None:
            raise ValueError(f"{self.provider} journals every call: it needs the run's journal (LLMRun)")
        frames = [pd.DataFrame(columns=[*PICK_COLUMNS, "outcome"])]
        with self.recorder(run) as recorder:
            for session, day in candidates.groupby("date", sort=True):
                frames.append(self._ask(recorder, pd.Timestamp(session), day))
        return pd.concat(frames, ignore_index=True)

    def _ask(self, recorder: CallRecorder, session: pd.Timestamp, day: pd.DataFrame) -> pd.DataFrame:
        symbols = frozenset(day["symbol"].astype(str))
        decision = recorder.ask(
            Request(
                step=Step.DISCOVERY,
                session=session.date(),
                prompt=discovery_prompt(session.date().isoformat(), day, self.max_picks),
                send=self.send,
                parse=lambda text: parse_picks(text, symbols, self.max_picks),
                encode=lambda answer: answer.model_dump_json(),
                fallback=lambda: offline_ranking(day, self.max_picks),
            )
        )
        picks = answer_picks(session, decision.value, self.max_picks)
        if str(decision.outcome) not in DECIDED_BY_MODEL:
            picks["reason"] = picks["reason"] + f" (LLM fallback: {decision.reason})"
        return picks.assign(outcome=str(decision.outcome))


class GroqPicker(_ModelPicker, GroqChat):
    @property
    def provider(self) -> str:
        return f"groq/{self.model}"


class AnthropicPicker(_ModelPicker, AnthropicChat):
    @property
    def provider(self) -> str:
        return f"anthropic/{self.model}"
