"""A failing blocking check stops every fill of the run, visibly, and is recorded."""

import dataclasses

import pandas as pd

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.defs.execution import sized_orders as sized_orders_module
from trading_pipeline.defs.resources.market_data import ReplayMarketData
from trading_pipeline_tests.cycles import run_cycle

START, END = "2008-08-01", "2008-12-31"


def _corrupt(tmp_path, symbols: list[str], day: str):
    """Swap high and low of ``symbols`` on ``day``: a real-looking bar with high < low."""
    bars = pd.read_parquet(SAMPLE_BARS)
    hit = bars["symbol"].isin(symbols) & (bars["date"] == pd.Timestamp(day))
    assert hit.sum() == len(symbols)
    bars.loc[hit, ["high", "low"]] = bars.loc[hit, ["low", "high"]].to_numpy()
    path = tmp_path / "bars.parquet"
    bars.to_parquet(path)
    return ReplayMarketData(path=str(path))


def test_bad_bars_across_the_universe_block_every_fill(instance, tmp_path):
    market_data = _corrupt(tmp_path, ["AAPL", "IBM"], "2008-10-15")  # 2 of 4 listed symbols
    run = run_cycle(instance, START, END, market_data=market_data)

    assert not run.result.success or run.failed_checks()
    assert run.failed_checks() == ["bars_valid"]
    evaluation = next(e for e in run.result.get_asset_check_evaluations() if e.check_name == "bars_valid")
    listed = evaluation.metadata["quarantined"].value
    assert "AAPL" in listed and "IBM" in listed and "high_below_low" in listed
    assert run.table("fills").empty
    assert run.table("orders").empty
    quarantined = run.written("risk_events")
    assert set(quarantined.loc[quarantined["action"] == "quarantined", "symbol"]) == {"AAPL", "IBM"}


def test_an_order_past_the_sizing_code_that_breaks_a_limit_is_never_filled(instance, monkeypatch):
    real_decider = sized_orders_module.sizing_decider

    def oversized(*args, **kwargs):
        decide = real_decider(*args, **kwargs)

        def inject(book, session):
            orders, events = decide(book, session)
            return [dataclasses.replace(o, qty=o.qty * 50) if o.side == "buy" else o for o in orders], events

        return inject

    monkeypatch.setattr(sized_orders_module, "sizing_decider", oversized)
    run = run_cycle(instance, START, END)

    assert {"position_limit", "risk_per_trade"} <= set(run.failed_checks())
    assert run.table("fills").empty
    failures = run.written("risk_events")
    assert (failures["action"] == "check_failed").any()
    assert set(failures.loc[failures["action"] == "check_failed", "source"]) >= {
        "check:position_limit",
        "check:risk_per_trade",
    }


def test_buys_sized_past_a_tripped_breaker_fail_its_check_and_nothing_fills(instance, monkeypatch):
    """A sizer that records the tripped breaker on its orders but sizes the buys anyway (the bug the
    circuit_breaker check exists for): only that check fails, and the run sends nothing to the broker."""
    real_decider = sized_orders_module.sizing_decider

    def ignores_the_breaker(*args, **kwargs):
        decide = real_decider(*args, **kwargs)

        def inject(book, session):
            orders, events = decide(book, session)
            return [dataclasses.replace(o, breaker_tripped=True) if o.side == "buy" else o for o in orders], events

        return inject

    monkeypatch.setattr(sized_orders_module, "sizing_decider", ignores_the_breaker)
    run = run_cycle(instance, START, END)

    assert run.failed_checks() == ["circuit_breaker"]
    assert run.table("fills").empty
    failures = run.written("risk_events")
    failed = failures[failures["action"] == "check_failed"]
    assert set(failed["source"]) == {"check:circuit_breaker"} and failed["limit_value"].eq(-0.20).all()
    evaluation = next(e for e in run.result.get_asset_check_evaluations() if e.check_name == "circuit_breaker")
    assert evaluation.metadata["violations"].value == len(failed)
    assert "circuit breaker" in evaluation.metadata["details"].value


def test_buys_sized_past_a_halt_fail_not_halted_and_nothing_fills(instance, monkeypatch):
    """A sizer that records the book's halt on its orders but sizes the buys anyway: only ``not_halted`` fails,
    and the run sends nothing to the broker."""
    real_decider = sized_orders_module.sizing_decider

    def ignores_the_halt(*args, **kwargs):
        decide = real_decider(*args, **kwargs)

        def inject(book, session):
            orders, events = decide(book, session)
            return [dataclasses.replace(o, halted=True) if o.side == "buy" else o for o in orders], events

        return inject

    monkeypatch.setattr(sized_orders_module, "sizing_decider", ignores_the_halt)
    run = run_cycle(instance, START, END)

    assert run.failed_checks() == ["not_halted"]
    assert run.table("fills").empty
    failures = run.written("risk_events")
    failed = failures[failures["action"] == "check_failed"]
    assert len(failed) and set(failed["source"]) == {"check:not_halted"} and set(failed["rule"]) == {"not_halted"}
    evaluation = next(e for e in run.result.get_asset_check_evaluations() if e.check_name == "not_halted")
    assert evaluation.metadata["violations"].value == len(failed)


def test_a_bar_with_high_below_low_is_listed_and_its_symbol_not_traded_that_day(instance, tmp_path):
    # All five bundled symbols are listed from mid-2012 on, so one bad bar is exactly 20% of the universe.
    start, end = "2012-06-01", "2012-12-31"
    clean = run_cycle(instance, start, end, trading=_book("clean"))
    fills = clean.table("fills")
    target = fills.iloc[0]
    symbol, day = target["symbol"], target["session"].strftime("%Y-%m-%d")

    run = run_cycle(instance, start, end, market_data=_corrupt(tmp_path, [symbol], day), trading=_book("dirty"))
    assert run.result.success
    evaluation = next(e for e in run.result.get_asset_check_evaluations() if e.check_name == "bars_valid")
    assert evaluation.passed  # one symbol of five is not above the 20% universe threshold
    assert symbol in evaluation.metadata["quarantined"].value
    traded = run.table("fills")
    assert traded[(traded["symbol"] == symbol) & (traded["session"] == pd.Timestamp(day))].empty
    orders = run.table("orders")
    assert orders[(orders["symbol"] == symbol) & (orders["session"] == pd.Timestamp(day))].empty
    events = run.table("risk_events")
    cancelled = events[(events["symbol"] == symbol) & (events["session"] == pd.Timestamp(day))]
    assert set(cancelled["rule"]) >= {"bar_validation", "no_tradable_open"}


def _book(name: str):
    from trading_pipeline.defs.resources.book import TradingBook

    return TradingBook(book=name)
