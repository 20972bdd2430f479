"""The risk layer inside the daily cycle on the real ETF file: the breaker trips, is journaled, shows in
the checks' metadata, and the manual reset job clears it in the journaled book state."""

import json

import pandas as pd

from trading_pipeline.definitions import defs
from trading_pipeline.defs.execution import sized_orders as sized_orders_module
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.market_data import ReplayMarketData
from trading_pipeline.domain.book import BookState
from trading_pipeline_tests.cycles import SHARED_DATA, run_cycle

ETF_FILE = SHARED_DATA / "daily_etf64_2005-2017.csv.gz"
START, END = "2008-09-02", "2008-11-28"


def test_the_breaker_trips_in_the_autumn_2008_cycle_and_the_manual_reset_job_clears_it(instance, monkeypatch):
    # An empty sector map: every symbol the book buys is unknown, its own sector, and must be reported.
    monkeypatch.setattr(sized_orders_module, "load_sector_map", dict)
    # The real strategies trade little in a falling market (about 3% drawdown by October 2008 with the
    # default limits), so the breaker is set tight enough (2%) to trip on it.
    trading = TradingBook(book="etf", max_drawdown=0.02, resume_drawdown=0.01)
    run = run_cycle(instance, START, END, market_data=ReplayMarketData(path=str(ETF_FILE)), trading=trading)
    assert run.result.success and run.failed_checks() == []

    events = run.table("risk_events")
    breaker = events[(events["rule"] == "circuit_breaker") & (events["action"] == "info")]
    assert len(breaker) and breaker["message"].iloc[0].startswith("tripped: drawdown")
    assert set(breaker["source"]) == {"execution"}
    tripped_on = breaker["session"].iloc[0]
    rejected = events[(events["rule"] == "circuit_breaker") & (events["action"] == "rejected")]
    assert len(rejected) and (rejected["source"] == "sizing").all() and (rejected["session"] >= tripped_on).all()
    assert rejected["limit_value"].eq(-0.02).all()

    evaluation = next(e for e in run.result.get_asset_check_evaluations() if e.check_name == "circuit_breaker")
    assert evaluation.passed
    assert evaluation.metadata["sizing_rejections_and_clips"].value == len(rejected)
    assert "circuit breaker tripped" in evaluation.metadata["sizing_events"].value

    orders = run.table("orders")
    buys = orders[orders["side"] == "buy"]
    tripped_days = pd.DatetimeIndex(rejected["session"].unique())
    assert not buys["session"].isin(tripped_days).any()  # no buy on a day the breaker blocked
    exits = orders[orders["strategy"] == "position_management"]
    assert (exits["status"] == "filled").all()
    unknown = events[events["rule"] == "unknown_sector"]
    assert set(unknown["symbol"]) == set(buys["symbol"]) and (unknown["action"] == "info").all()
    materialization = run.result.asset_materializations_for_node("sized_orders")[0]
    assert materialization.metadata["unknown_sector_symbols"].value == ", ".join(sorted(set(buys["symbol"])))

    states = run.table("book_states")
    last = BookState.from_dict(json.loads(states["state"].iloc[-1]))
    assert last.breaker == "drawdown" and last.breaker_since == tripped_on.date()  # flat book: no recovery

    reset = defs.get_job_def("reset_circuit_breaker_job").execute_in_process(
        instance=instance,
        run_config={"ops": {"reset_circuit_breaker": {"config": {"operator": "risk-desk", "reason": "reviewed"}}}},
        resources={"trading": trading, "journal": JournalResource()},
    )
    assert reset.success
    session, state = run.journal.load_book_state("etf", before="2100-01-01")
    cleared = BookState.from_dict(state)
    assert session == last.last_session
    assert cleared.breaker is None and cleared.risk_peak == last.equity and cleared.equity == last.equity
    manual = run.table("risk_events")
    manual = manual[manual["source"].str.startswith("manual_reset:")]
    assert len(manual) == 1 and "risk-desk" in manual["message"].iloc[0]
