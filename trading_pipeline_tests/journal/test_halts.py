"""The books' kill switch in the journal: one halt in force per book, its history kept, clear refusals."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from trading_pipeline.journal import Journal
from trading_pipeline.journal.halts import HaltStateError, active_halt, halt, halt_history, resume

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


@pytest.fixture
def journal(tmp_path) -> Journal:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    journal.create_schema()
    return journal


def test_a_halt_is_in_force_until_resumed_and_its_history_stays(journal):
    assert active_halt(journal, "paper") is None
    made = halt(journal, "paper", "risk-desk", "broker outage", flatten=True, run_id="run-1", at=T0)
    assert active_halt(journal, "paper") == made
    assert (made.operator, made.reason, made.flatten, made.halted_at) == ("risk-desk", "broker outage", True, T0)
    assert made.describe() == "halted by risk-desk at 2026-03-02 14:30:00 UTC: broker outage"
    assert active_halt(journal, "other") is None  # one book's halt is its own

    lifted = resume(journal, "paper", "cio", "broker back", at=T0 + timedelta(hours=2))
    assert lifted == made and active_halt(journal, "paper") is None
    halt(journal, "paper", "risk-desk", "again", flatten=False, run_id="run-2", at=T0 + timedelta(days=1))

    history = halt_history(journal, "paper")
    assert history["run_id"].tolist() == ["run-1", "run-2"]
    assert history["resumed_by"].tolist()[0] == "cio" and history["resume_reason"].tolist()[0] == "broker back"
    assert history["resumed_at"].iloc[0] == pd.Timestamp(T0 + timedelta(hours=2))
    assert pd.isna(history["resumed_at"].iloc[1]) and history["flatten"].tolist() == [True, False]
    assert active_halt(journal, "paper").reason == "again"


def test_halting_a_halted_book_and_resuming_a_running_one_are_refused(journal):
    with pytest.raises(HaltStateError, match="book 'paper' is not halted: nothing to resume"):
        resume(journal, "paper", "cio", "why not")
    halt(journal, "paper", "risk-desk", "outage", flatten=False, run_id="run-1", at=T0)
    with pytest.raises(HaltStateError, match=r"already halted by risk-desk at 2026-03-02 14:30:00 UTC: outage; resume"):
        halt(journal, "paper", "someone", "twice", flatten=True, run_id="run-2")
    assert len(halt_history(journal, "paper")) == 1  # the refused halt wrote nothing


@pytest.mark.parametrize(("operator", "reason"), [("", "why"), ("me", "  "), (None, "why")])
def test_a_halt_or_resume_names_who_and_why(journal, operator, reason):
    with pytest.raises(ValueError, match="needs an operator and a reason"):
        halt(journal, "paper", operator, reason, flatten=False, run_id="run-1")
    assert active_halt(journal, "paper") is None
    halt(journal, "paper", "risk-desk", "outage", flatten=False, run_id="run-1")
    with pytest.raises(ValueError, match="needs an operator and a reason"):
        resume(journal, "paper", operator, reason)
    assert active_halt(journal, "paper") is not None
