"""The audit narrative of a session: a deterministic template offline, Anthropic's prose when configured."""

from abc import abstractmethod
from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd
from dagster import ConfigurableResource

from trading_pipeline.defs.resources.llm import AnthropicChat
from trading_pipeline.domain.llm.answers import AuditNarrative, parse_narrative
from trading_pipeline.domain.llm.audit import template_narrative
from trading_pipeline.domain.llm.calls import LLMRun, Outcome, Request, Step
from trading_pipeline.domain.llm.prompts import audit_prompt

NARRATIVE_COLUMNS = ["session", "markdown", "provider", "model", "outcome"]


class AuditNarrator(ConfigurableResource):
    @abstractmethod
    def write(self, facts: Mapping[date, Mapping[str, Any]], run: LLMRun) -> pd.DataFrame:
        """One narrative per session of ``facts`` (``NARRATIVE_COLUMNS``)."""


class TemplateNarrator(AuditNarrator):
    """The offline default: the journal's facts rendered by a fixed template."""

    def write(self, facts: Mapping[date, Mapping[str, Any]], run: LLMRun) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "session": list(facts),
                "markdown": [template_narrative(f) for f in facts.values()],
                "provider": "template",
                "model": "deterministic",
                "outcome": "template",
            },
            columns=NARRATIVE_COLUMNS,
        )


class AnthropicNarrator(AuditNarrator, AnthropicChat):
    """Anthropic writes the prose; the template's figures follow it, so every number shown comes from the
    journal. When the model cannot answer (budget, errors, open circuit) the template alone is stored."""

    def write(self, facts: Mapping[date, Mapping[str, Any]], run: LLMRun) -> pd.DataFrame:
        rows = []
        with self.recorder(run) as recorder:
            for session, session_facts in facts.items():
                figures = template_narrative(session_facts)
                decision = recorder.ask(
                    Request(
                        step=Step.AUDIT,
                        session=session,
                        prompt=audit_prompt(session_facts),
                        send=self.send,
                        parse=parse_narrative,
                        encode=lambda answer: answer.markdown,
                        fallback=lambda figures=figures: AuditNarrative(markdown=figures),
                    )
                )
                by_model = decision.outcome in (Outcome.OK, Outcome.CACHED)
                markdown = (
                    f"{decision.value.markdown}\n\n---\n*Figures from the journal:*\n\n{figures}"
                    if by_model
                    else figures
                )
                rows.append(
                    (
                        session,
                        markdown,
                        "anthropic" if by_model else "template",
                        self.model if by_model else "deterministic",
                        str(decision.outcome),
                    )
                )
        return pd.DataFrame(rows, columns=NARRATIVE_COLUMNS)
