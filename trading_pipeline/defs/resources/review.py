"""The optional quant review of validated signals: offline it changes nothing; Anthropic may lower or veto."""

from abc import abstractmethod

import pandas as pd
from dagster import ConfigurableResource

from trading_pipeline.defs.resources.llm import AnthropicChat
from trading_pipeline.domain.llm.answers import ReviewAnswer, parse_review
from trading_pipeline.domain.llm.calls import LLMRun, Request, Step
from trading_pipeline.domain.llm.prompts import review_prompt
from trading_pipeline.domain.llm.review import reviews_frame
from trading_pipeline.domain.schema import Action

REVIEW_COLUMNS = ["date", "symbol", "confidence", "veto", "reason"]


class SignalReviewer(ConfigurableResource):
    """Proposes lowered confidences and vetoes; ``apply_reviews`` enforces that nothing is ever raised."""

    @abstractmethod
    def review(self, signals: pd.DataFrame, run: LLMRun) -> tuple[pd.DataFrame, list[str]]:
        """(reviews with ``REVIEW_COLUMNS``, the outcome of each request made)."""

    @property
    @abstractmethod
    def provider(self) -> str: ...

    @property
    def reads_data(self) -> bool:
        """Whether it reads more than the signals (the memory's figures): only then are they computed."""
        return True


class NoReview(SignalReviewer):
    """The offline default: the quant validation's confidence stands."""

    @property
    def reads_data(self) -> bool:
        return False

    @property
    def provider(self) -> str:
        return "none"

    def review(self, signals: pd.DataFrame, run: LLMRun) -> tuple[pd.DataFrame, list[str]]:
        return pd.DataFrame(columns=REVIEW_COLUMNS), []


class AnthropicReviewer(SignalReviewer, AnthropicChat):
    """One request per session with its actionable signals; a failed review leaves them as validated."""

    @property
    def provider(self) -> str:
        return f"anthropic/{self.model}"

    def review(self, signals: pd.DataFrame, run: LLMRun) -> tuple[pd.DataFrame, list[str]]:
        actionable = signals[signals["action"] != Action.HOLD.value]
        frames, outcomes = [], []
        with self.recorder(run) as recorder:
            for session, day in actionable.groupby("date", sort=True):
                stamp = pd.Timestamp(session)
                current = dict(zip(day["symbol"].astype(str), day["confidence"].astype(float), strict=True))
                decision = recorder.ask(
                    Request(
                        step=Step.REVIEW,
                        session=stamp.date(),
                        prompt=review_prompt(stamp.date().isoformat(), day),
                        send=self.send,
                        parse=lambda text, current=current: parse_review(text, current),
                        encode=lambda answer: answer.model_dump_json(),
                        fallback=lambda: ReviewAnswer(reviews=[]),
                    )
                )
                outcomes.append(str(decision.outcome))
                frames.append(reviews_frame(stamp, decision.value.reviews))
        if not frames:
            return pd.DataFrame(columns=REVIEW_COLUMNS), outcomes
        return pd.concat(frames, ignore_index=True), outcomes
