"""The universe and watchlist assets through real Dagster runs on the bundled bars: point in time, journaled, and
forward returns that appear only once the sessions that make them known are in."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import materialize

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.definitions import DEFAULT_RESOURCES
from trading_pipeline.defs.discovery.universe import CONFIGURED, universe
from trading_pipeline.defs.discovery.watchlist import watchlist
from trading_pipeline.defs.resources.discovery import SymbolDiscovery
from trading_pipeline.defs.resources.journal import default_journal_url
from trading_pipeline.defs.resources.market_data import ReplayMarketData
from trading_pipeline.domain import calendar
from trading_pipeline.domain.bars import load_bars_file
from trading_pipeline.domain.discovery.trading import OFF_WATCHLIST
from trading_pipeline.domain.discovery.universe import SURVIVORSHIP_NOTE
from trading_pipeline.journal import Journal
from trading_pipeline_tests.cycles import run_cycle

ON = SymbolDiscovery(enabled=True, max_watchlist=3)


def _discover(instance, start: str, end: str, **resources):
    result = materialize(
        [universe, watchlist],
        instance=instance,
        resources={**DEFAULT_RESOURCES, "discovery": ON, **resources},
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
    )
    assert result.success
    return result


def _journal(instance) -> Journal:
    return Journal(default_journal_url(Path(instance.root_directory)))


def _bars_through(tmp_path, last: str) -> ReplayMarketData:
    bars = load_bars_file(SAMPLE_BARS)
    path = tmp_path / f"bars_through_{last}.parquet"
    bars[bars["date"] <= pd.Timestamp(last)].to_parquet(path)
    return ReplayMarketData(path=str(path))


def _session(frame: pd.DataFrame, day: str) -> pd.DataFrame:
    return frame[frame["date"] == pd.Timestamp(day)].reset_index(drop=True)


def test_discovery_off_the_universe_is_the_configured_symbols_and_the_watchlist_is_empty(instance):
    result = _discover(
        instance,
        "2012-03-01",
        "2012-03-02",
        discovery=SymbolDiscovery(),
        market_data=ReplayMarketData(symbols=["IBM", "AAPL"]),
    )
    frame = result.output_for_node("universe")
    assert frame[["date", "symbol"]].astype(str).values.tolist() == [
        ["2012-03-01", "AAPL"], ["2012-03-01", "IBM"], ["2012-03-02", "AAPL"], ["2012-03-02", "IBM"]
    ]  # fmt: skip
    assert frame["eligible"].all() and (frame["reason"] == CONFIGURED).all()
    assert result.output_for_node("watchlist").empty
    assert _journal(instance).read("watchlist", book="offline").empty
    every = _discover(instance, "2012-03-01", "2012-03-02", discovery=SymbolDiscovery())
    assert every.output_for_node("universe").empty  # none configured: every symbol market_bars gets, unlisted
    metadata = every.asset_materializations_for_node("universe")[0].metadata
    assert metadata["candidates_from"].value == "every symbol the market data serves"


def test_the_universe_states_its_survivorship_bias_unless_a_membership_file_makes_it_point_in_time(instance, tmp_path):
    result = _discover(instance, "2012-03-01", "2012-03-01")
    metadata = result.asset_materializations_for_node("universe")[0].metadata
    assert metadata["survivorship"].value == SURVIVORSHIP_NOTE
    membership = tmp_path / "members.csv"
    membership.write_text("symbol,start,end\nAAPL,2000-01-01,\nIBM,2000-01-01,2012-02-29\nMSFT,2012-03-02,\n")
    members = SymbolDiscovery(enabled=True, max_watchlist=3, membership_path=str(membership))
    result = _discover(instance, "2012-03-01", "2012-03-02", discovery=members)
    frame = result.output_for_node("universe")
    eligible = {(str(d.date()), s) for d, s in frame.loc[frame["eligible"], ["date", "symbol"]].values}
    assert eligible == {("2012-03-01", "AAPL"), ("2012-03-02", "AAPL"), ("2012-03-02", "MSFT")}
    assert "point-in-time" in result.asset_materializations_for_node("universe")[0].metadata["survivorship"].value
    assert set(result.output_for_node("watchlist")["symbol"]) <= {"AAPL", "MSFT"}


def test_truncating_the_data_after_the_session_before_d_changes_neither_the_universe_nor_the_watchlist_of_d(
    instance, tmp_path
):
    day = "2012-03-01"
    full = _discover(instance, "2012-02-27", day)
    cut = _discover(instance, "2012-02-27", day, market_data=_bars_through(tmp_path, "2012-02-29"))
    for asset in ("universe", "watchlist"):
        pd.testing.assert_frame_equal(
            _session(full.output_for_node(asset), day), _session(cut.output_for_node(asset), day)
        )
    assert len(_session(full.output_for_node("watchlist"), day)) == 3


def test_the_watchlist_is_journaled_as_the_asset_returns_it(instance):
    result = _discover(instance, "2012-03-01", "2012-03-05")
    asset = result.output_for_node("watchlist")
    rows = _journal(instance).read("watchlist", book="offline").sort_values(["session", "rank"], ignore_index=True)
    assert rows["symbol"].tolist() == asset["symbol"].tolist()
    assert rows["pickers"].tolist() == asset["pickers"].tolist()
    np.testing.assert_allclose(rows["score"], asset["score"])
    assert (rows["divergence"] != "").tolist() == asset["divergent"].tolist()


def _closes() -> pd.DataFrame:
    bars = load_bars_file(SAMPLE_BARS)
    return bars.pivot(index="date", columns="symbol", values="close")


def test_forward_returns_are_filled_by_the_run_of_the_session_after_the_one_that_makes_them_known(instance):
    first, last = "2012-03-01", "2012-03-05"
    _discover(instance, first, last)
    journal = _journal(instance)
    returns = journal.read("watchlist_returns", book="offline")
    # Known by the close of 03-02 (the session before 03-05): the 1-session returns of 03-01 only.
    assert set(zip(returns["suggested_on"].astype(str), returns["horizon"], strict=True)) == {("2012-03-01", 1.0)}
    assert (returns["session"].astype(str) == "2012-03-05").all()

    # The next run, 03-06 alone, knows the close of 03-05: the 1-session returns of 03-02, from the journal.
    _discover(instance, "2012-03-06", "2012-03-06")
    returns = journal.read("watchlist_returns", book="offline")
    later = returns[returns["session"].astype(str) == "2012-03-06"]
    assert set(later["suggested_on"].astype(str)) == {"2012-03-02"} and set(later["horizon"]) == {1.0}
    closes = _closes()
    listed = journal.read("watchlist", book="offline")
    on_0302 = listed.loc[listed["session"].astype(str) == "2012-03-02", "symbol"]
    assert sorted(later["symbol"]) == sorted(on_0302)
    for row in later.itertuples():
        expected = closes.loc["2012-03-05", row.symbol] / closes.loc["2012-03-02", row.symbol] - 1
        assert row.forward_return == pytest.approx(expected)
    members = closes.loc[["2012-03-02", "2012-03-05"]].dropna(axis=1)
    assert later["universe_return"].iloc[0] == pytest.approx((members.iloc[1] / members.iloc[0] - 1).mean())


def test_no_forward_return_is_ever_filled_before_its_sessions_exist(instance, tmp_path):
    """The run of a session with the data ending at its previous close fills exactly what a full file does."""
    _discover(instance, "2012-01-03", "2012-03-01", market_data=_bars_through(tmp_path, "2012-02-29"))
    returns = _journal(instance).read("watchlist_returns", book="offline")
    horizon_end = [
        calendar.session_offset(d, int(h)) for d, h in zip(returns["suggested_on"], returns["horizon"], strict=True)
    ]
    assert max(horizon_end) == pd.Timestamp("2012-02-29")
    filled_on = [calendar.next_session(d) for d in horizon_end]
    assert filled_on == list(pd.to_datetime(returns["session"]))
    assert returns["forward_return"].notna().all() and {1.0, 5.0, 20.0} == set(returns["horizon"])


def test_with_discovery_on_the_cycle_buys_only_what_the_session_watchlist_holds(instance):
    run = run_cycle(instance, "2012-01-03", "2012-04-30", discovery=SymbolDiscovery(enabled=True, max_watchlist=1))
    assert run.result.success
    listed = run.table("watchlist")
    assert (listed.groupby("session").size() == 1).all()
    buys = run.table("orders").query("side == 'buy'")
    assert len(buys) > 0
    on_list = set(zip(listed["session"].astype(str), listed["symbol"], strict=True))
    assert set(zip(buys["session"].astype(str), buys["symbol"], strict=True)) <= on_list
    signals = run.result.output_for_node("signals")
    refused = signals["reason"].str.startswith(OFF_WATCHLIST)
    assert refused.any() and (signals.loc[refused, "action"] == "HOLD").all()


def test_a_held_symbol_that_is_no_longer_a_candidate_keeps_its_bars_and_can_be_sold(instance):
    before = run_cycle(instance, "2012-01-03", "2012-03-30")
    assert before.result.success
    held = before.table("positions").query("session == session.max() and qty > 0")["symbol"].tolist()
    assert held, "the first range must leave a position for this test"
    symbol = held[0]
    others = sorted(set(load_bars_file(SAMPLE_BARS)["symbol"]) - {symbol})
    # Discovery on, with candidates that no longer include the held symbol.
    after = run_cycle(instance, "2012-04-02", "2012-06-29", discovery=ON, market_data=ReplayMarketData(symbols=others))
    assert after.result.success
    bars = after.result.output_for_node("market_bars").query("symbol == @symbol")
    assert symbol not in set(after.table("watchlist")["symbol"])  # never bought again
    # Every session it is held, it is valued at that session's close from the bars (and its exits checked).
    positions = after.table("positions").query("symbol == @symbol and qty > 0")
    positions = positions[pd.to_datetime(positions["session"]) >= pd.Timestamp("2012-04-02")]
    assert len(positions)
    closes = bars.set_index(bars["date"].dt.date)["close"]
    for session, close in zip(positions["session"], positions["close"], strict=True):
        assert close == pytest.approx(closes[pd.Timestamp(session).date()])


def test_a_suggestion_whose_symbol_left_the_candidates_still_gets_its_forward_return(instance):
    """Paper candidates change every day (the screener's most active): a symbol suggested on 03-02 that is no longer
    a candidate on 03-06 still gets its 1-session return, from its own bars, not a NaN written for good."""
    _discover(instance, "2012-03-01", "2012-03-02")
    journal = _journal(instance)
    listed = journal.read("watchlist", book="offline")
    suggested = sorted(listed.loc[listed["session"].astype(str) == "2012-03-02", "symbol"])
    gone = suggested[0]
    others = sorted(set(load_bars_file(SAMPLE_BARS)["symbol"]) - {gone})
    _discover(instance, "2012-03-06", "2012-03-06", market_data=ReplayMarketData(symbols=others))
    returns = journal.read("watchlist_returns", book="offline")
    later = returns[(returns["session"].astype(str) == "2012-03-06") & (returns["symbol"] == gone)]
    (row,) = later.itertuples()
    closes = _closes()
    assert row.forward_return == pytest.approx(closes.loc["2012-03-05", gone] / closes.loc["2012-03-02", gone] - 1)
    assert returns["forward_return"].notna().all()
