"""Look-ahead exposure: a model that decided a session after it happened may know how it ended."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from trading_pipeline.domain.llm.calls import Outcome, Step

DECISION_STEPS = (str(Step.SELECTION), str(Step.REVIEW))
MARKET_TZ = "America/New_York"


@dataclass(frozen=True)
class LookaheadExposure:
    live_past_sessions: int
    replayed_llm_choices: int

    @property
    def exposed(self) -> bool:
        return self.live_past_sessions > 0 or self.replayed_llm_choices > 0

    def describe(self) -> str:
        if not self.exposed:
            return "no LLM decision was made after its session"
        parts = []
        if self.live_past_sessions:
            parts.append(f"a live LLM decided {self.live_past_sessions} session(s) after they closed")
        if self.replayed_llm_choices:
            parts.append(
                f"{self.replayed_llm_choices} replayed LLM choice(s), as exposed as the run that recorded them"
            )
        return "; ".join(parts) + ": the model may know how the period ended"


def lookahead_exposure(llm_calls: pd.DataFrame, replayed_llm_choices: int) -> LookaheadExposure:
    """``llm_calls`` as read from the journal; a decision (selection or review, answered or served from a
    cache) counts when it was made on a later New York date than its session."""
    if llm_calls.empty:
        return LookaheadExposure(0, replayed_llm_choices)
    decided = llm_calls["step"].isin(DECISION_STEPS) & llm_calls["outcome"].isin([str(Outcome.OK), str(Outcome.CACHED)])
    rows = llm_calls[decided & llm_calls["session"].notna()]
    made_on = rows["created_at"].dt.tz_convert(MARKET_TZ).dt.tz_localize(None).dt.normalize()
    past = rows.loc[made_on > rows["session"], "session"]
    return LookaheadExposure(int(past.nunique()), replayed_llm_choices)
