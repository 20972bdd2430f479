"""The backfill of a range is the backtest: one run, the live cycle's code, reproducible, no look-ahead."""

import pandas as pd

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.defs.resources.market_data import ReplayMarketData
from trading_pipeline.domain import calendar
from trading_pipeline_tests.cycles import run_cycle

# A volatile stretch of real history (autumn 2008) in which the bundled symbols trade.
START, END = "2008-08-01", "2008-12-31"
CUT = "2008-10-31"


def _fills(run) -> pd.DataFrame:
    return run.table("fills").drop(columns=["run_id"])


def _orders(run) -> pd.DataFrame:
    return run.table("orders").drop(columns=["run_id", "created_at"])


def test_backfill_is_one_run_that_produces_fills_and_is_reproducible(instance):
    first = run_cycle(instance, START, END)
    assert first.result.success
    assert first.failed_checks() == []
    fills = _fills(first)
    assert len(fills) > 0
    assert (fills["session"] > pd.Timestamp(START)).all()  # decided at a close, filled at a later open
    assert len(instance.get_runs()) == 1

    second = run_cycle(instance, START, END)
    assert second.result.success
    pd.testing.assert_frame_equal(_fills(second), fills)
    pd.testing.assert_frame_equal(_orders(second), _orders(first))
    equity = second.table("equity")
    assert equity["session"].nunique() == len(equity)  # replaced, not duplicated
    assert equity["equity"].notna().all()


def test_truncating_the_future_changes_no_past_decision_or_fill(instance, tmp_path):
    full = run_cycle(instance, START, END)
    bars = pd.read_parquet(SAMPLE_BARS)
    truncated_path = tmp_path / "truncated.parquet"
    bars[bars["date"] <= pd.Timestamp(CUT)].to_parquet(truncated_path)

    cut = run_cycle(instance, START, CUT, market_data=ReplayMarketData(path=str(truncated_path)))
    assert full.result.success and cut.result.success

    def upto(frame):
        return frame[frame["session"] <= pd.Timestamp(CUT)].reset_index(drop=True)

    cut_fills, cut_orders = _fills(cut), _orders(cut)
    assert len(cut_fills) > 0
    pd.testing.assert_frame_equal(upto(_fills(full)), cut_fills)
    # Order status may differ for the last session's orders (pending at the cut); the decisions may not.
    decision = ["client_order_id", "session", "symbol", "side", "qty", "stop_price", "ref_price", "confidence"]
    pd.testing.assert_frame_equal(upto(_orders(full))[decision], cut_orders[decision])


def test_consecutive_runs_carry_the_book_exactly_like_one_run_over_the_whole_range(instance):
    """The daily cycle run range by range (as live) continues from the journaled book: same fills, same
    equity as a single backfill, and orders left pending by one run are settled by the next."""
    from trading_pipeline.defs.resources.book import TradingBook

    whole = run_cycle(instance, START, END, trading=TradingBook(book="whole"))
    # Cut on a session that decided an order, so the first run ends with it pending (the journal's
    # protective exits are orders filled on the session they triggered: never pending).
    journaled = whole.table("orders")
    decided = journaled.loc[journaled["strategy"] != "position_management", "session"]
    cut = decided.iloc[len(decided) // 2]
    assert cut < pd.Timestamp(END)
    first = run_cycle(instance, START, cut.strftime("%Y-%m-%d"), trading=TradingBook(book="split"))
    pending_after_first = set(first.table("orders").query("status == 'submitted'")["client_order_id"])
    resume = calendar.next_session(cut).strftime("%Y-%m-%d")
    second = run_cycle(instance, resume, END, trading=TradingBook(book="split"))
    assert whole.result.success and first.result.success and second.result.success

    columns = ["session", "symbol", "side", "qty", "price", "commission"]
    pd.testing.assert_frame_equal(second.table("fills")[columns], whole.table("fills")[columns])
    pd.testing.assert_frame_equal(
        second.table("equity")[["session", "equity", "cash"]], whole.table("equity")[["session", "equity", "cash"]]
    )
    split_orders = second.table("orders")
    assert pending_after_first, "the cut should leave an order pending for the next session's open"
    settled = split_orders.set_index("client_order_id").loc[sorted(pending_after_first), "status"]
    assert (settled != "submitted").all()
    decision = ["session", "symbol", "side", "qty", "status"]  # order ids differ: they include the book
    pd.testing.assert_frame_equal(split_orders[decision], whole.table("orders")[decision])
