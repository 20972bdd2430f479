"""The kill switch through Dagster on the bundled data: a halted book buys nothing (it still sells) until it is
resumed; a halt cancels the pending entries and, asked to, sells every position at the next open."""

import json
from pathlib import Path

import pandas as pd
import pytest

from trading_pipeline.cli.journal_check import print_journal_check
from trading_pipeline.dagster_internals.events import step_error_text
from trading_pipeline.definitions import defs
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.domain.book import BookState
from trading_pipeline.journal.halts import active_halt
from trading_pipeline_tests.cycles import run_cycle

OPS = {"halt_trading_job": "halt_trading", "resume_trading_job": "resume_trading"}


def switch(instance, job: str, trading: TradingBook, **config):
    """Launch the halt or resume job of ``trading``'s book, as an operator does from the Launchpad."""
    return defs.get_job_def(job).execute_in_process(
        instance=instance,
        run_config={"ops": {OPS[job]: {"config": config}}},
        resources={"trading": trading, "journal": JournalResource()},
        raise_on_error=False,
    )


def last_state(run) -> BookState:
    states = run.table("book_states")
    return BookState.from_dict(json.loads(states["state"].iloc[-1]))


def between(frame: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    return frame[(frame["session"] >= pd.Timestamp(start)) & (frame["session"] <= pd.Timestamp(end))]


def failure(result) -> str:
    (event,) = [e for e in result.all_events if e.is_step_failure]
    return step_error_text(event.step_failure_data.error)


def test_a_halted_book_buys_nothing_still_sells_and_buys_again_once_resumed(instance):
    trading = TradingBook(book="halted")
    first = run_cycle(instance, "2012-01-03", "2012-03-30", trading=trading)
    assert first.result.success and last_state(first).positions  # it holds positions when it is halted

    halted = switch(instance, "halt_trading_job", trading, operator="risk-desk", reason="broker outage")
    assert halted.success
    assert active_halt(first.journal, "halted").describe().startswith("halted by risk-desk at ")
    again = switch(instance, "halt_trading_job", trading, operator="someone", reason="twice")
    assert not again.success and "book 'halted' is already halted by risk-desk" in failure(again)

    second = run_cycle(instance, "2012-04-02", "2012-09-28", trading=trading)
    assert second.result.success and second.failed_checks() == []
    orders = between(second.table("orders"), "2012-04-02", "2012-09-28")
    filled = between(second.table("fills"), "2012-04-02", "2012-09-28")["side"]
    assert not (orders["side"] == "buy").any()
    assert len(filled) and set(filled) == {"sell"}  # its positions are still sold, and nothing is bought
    events = second.table("risk_events")
    refused = events[(events["rule"] == "halted") & (events["source"] == "sizing")]
    assert len(refused) and set(refused["action"]) == {"rejected"}  # there were buy signals: each one refused
    assert refused["message"].str.contains("risk-desk").all() and refused["message"].str.contains("outage").all()
    check = next(e for e in second.result.get_asset_check_evaluations() if e.check_name == "not_halted")
    assert check.passed and check.metadata["sizing_rejections_and_clips"].value == len(refused)

    resumed = switch(instance, "resume_trading_job", trading, operator="cio", reason="broker back")
    assert resumed.success and active_halt(first.journal, "halted") is None
    third = run_cycle(instance, "2012-10-01", "2012-12-31", trading=trading)
    assert third.result.success
    assert (between(third.table("fills"), "2012-10-01", "2012-12-31")["side"] == "buy").any()
    lifted = third.table("risk_events")
    assert lifted["message"].str.startswith("resumed by cio: broker back (it was halted by risk-desk").sum() == 1
    again = switch(instance, "resume_trading_job", trading, operator="cio", reason="twice")
    assert not again.success and "book 'halted' is not halted: nothing to resume" in failure(again)


def test_a_halt_cancels_the_pending_entries_and_flattens_the_book_at_the_next_open(instance, tmp_path):
    trading = TradingBook(book="flattened")
    first = run_cycle(instance, "2012-01-03", "2012-03-22", trading=trading)
    before = last_state(first)
    entries = [o.client_order_id for o in before.pending if o.side == "buy"]
    assert entries and before.positions  # a buy waits for the next open, and positions are held

    assert switch(instance, "halt_trading_job", trading, operator="risk-desk", reason="kill", flatten=True).success
    orders = first.table("orders").set_index("client_order_id")
    assert set(orders.loc[entries, "status"]) == {"cancelled"}
    flatten = orders[orders["strategy"] == "halt"]
    held = {s: p.qty for s, p in before.positions.items()}
    assert dict(zip(flatten["symbol"], flatten["qty"], strict=True)) == held  # every share, sold at market
    assert set(flatten["side"]) == {"sell"} and set(flatten["status"]) == {"submitted"}
    assert set(flatten["session"]) == {pd.Timestamp(before.last_session)}
    after = last_state(first)
    assert after.last_session == before.last_session
    assert sorted(o.client_order_id for o in after.pending) == sorted(flatten.index)  # the entries are gone

    second = run_cycle(instance, "2012-03-23", "2012-04-30", trading=trading)
    assert second.result.success
    fills = second.table("fills")
    opening = fills[fills["session"] == pd.Timestamp("2012-03-23")]
    assert sorted(opening["client_order_id"]) == sorted(flatten.index) and set(opening["side"]) == {"sell"}
    assert not fills["client_order_id"].isin(entries).any()
    assert between(second.table("positions"), "2012-03-23", "2012-04-30").empty  # flat, and halted: it stays flat
    statuses = second.table("orders").set_index("client_order_id")["status"]
    assert set(statuses[flatten.index]) == {"filled"} and set(statuses[entries]) == {"cancelled"}
    assert print_journal_check(Path(instance.root_directory), "flattened", None) == 0  # the journal still adds up


@pytest.mark.parametrize("config", [{"operator": "", "reason": "why"}, {"operator": "me", "reason": " "}])
def test_a_halt_without_who_or_why_is_refused_and_halts_nothing(instance, config):
    trading = TradingBook(book="unsigned")
    result = switch(instance, "halt_trading_job", trading, **config)
    assert not result.success and "needs an operator and a reason" in failure(result)
