"""The journal invariants: a hand-built journal that keeps them all, the same journal with exactly one broken
(the violation expected is worked out here by hand), and the journal of a real backtest."""

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.definitions import DEFAULT_RESOURCES
from trading_pipeline.domain.invariants import STATUS_FILLS, VIOLATION_COLUMNS, check_journal
from trading_pipeline.journal import OrderStatus
from trading_pipeline_tests.cycles import run_cycle

D1, D2, D3, D4 = (pd.Timestamp(d) for d in ("2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"))
CAPITAL = 10_000.0

# The book: o1 buys 10 AAA (decided D1, filled at D2's open); o2 sells 4 AAA and o3 buys 180 BBB at D3's open;
# o4 is the take-profit exit of the other 6 AAA on D3's bar; o5 is still pending; o6 was cancelled.
ORDERS = [
    ("o1", D1, "AAA", "buy", 10.0, "market", np.nan, "Breakout", "filled"),
    ("o2", D2, "AAA", "sell", 4.0, "market", np.nan, "Breakout", "filled"),
    ("o3", D2, "BBB", "buy", 180.0, "market", np.nan, "DualMomentum", "filled"),
    ("o4", D3, "AAA", "sell", 6.0, "limit", 102.5, "position_management", "filled"),
    ("o5", D4, "AAA", "buy", 3.0, "market", np.nan, "Breakout", "submitted"),
    ("o6", D3, "CCC", "sell", 5.0, "market", np.nan, "Breakout", "cancelled"),
]
FILLS = [
    ("f1", "o1", D2, "AAA", "buy", 10.0, 100.05, 1.0),
    ("f2", "o2", D3, "AAA", "sell", 4.0, 101.9, 1.0),
    ("f3", "o3", D3, "BBB", "buy", 180.0, 50.025, 1.0),
    ("f4", "o4", D3, "AAA", "sell", 6.0, 102.6, 1.0),
]
BARS = [
    (D2, "AAA", 99.0, 101.0),
    (D3, "AAA", 101.0, 103.0),
    (D4, "AAA", 100.0, 102.0),
    (D3, "BBB", 49.5, 51.5),
    (D4, "BBB", 50.0, 53.0),
    (D4, "CCC", 9.0, 11.0),
]
# Cash after each fill: a sell brings qty × price less commission, a buy costs qty × price plus commission.
AFTER_F1 = CAPITAL - (10 * 100.05 + 1)
AFTER_F3 = AFTER_F1 + (4 * 101.9 - 1) - (180 * 50.025 + 1)
CASH = {D1: CAPITAL, D2: AFTER_F1, D3: AFTER_F3 + (6 * 102.6 - 1), D4: AFTER_F3 + (6 * 102.6 - 1)}
POSITIONS = [
    (D2, "AAA", 10.0, 100.05, 100.5),
    (D3, "BBB", 180.0, 50.025, 51.0),
    (D4, "BBB", 180.0, 50.025, 52.0),
]
MARKED = {D1: 0.0, D2: 10 * 100.5, D3: 180 * 51.0, D4: 180 * 52.0}


def sound_journal() -> dict[str, pd.DataFrame]:
    orders = pd.DataFrame(
        ORDERS,
        columns=[
            "client_order_id",
            "session",
            "symbol",
            "side",
            "qty",
            "order_type",
            "limit_price",
            "strategy",
            "status",
        ],
    )
    fills = pd.DataFrame(
        FILLS, columns=["fill_id", "client_order_id", "session", "symbol", "side", "qty", "price", "commission"]
    )
    positions = pd.DataFrame(POSITIONS, columns=["session", "symbol", "qty", "avg_price", "close"])
    equity = pd.DataFrame(
        {"session": list(CASH), "cash": list(CASH.values()), "equity": [CASH[d] + MARKED[d] for d in CASH]}
    )
    bars = pd.DataFrame(BARS, columns=["date", "symbol", "low", "high"])
    return {"orders": orders, "fills": fills, "positions": positions, "equity": equity, "bars": bars}


def check(journal: dict[str, pd.DataFrame], capital: float = CAPITAL) -> pd.DataFrame:
    return check_journal(**journal, initial_capital=capital)


def only(violations: pd.DataFrame, rule: str, session: pd.Timestamp, symbol: str | None) -> pd.Series:
    """The single violation, after checking its rule, session and symbol."""
    assert len(violations) == 1, violations.to_string()
    found = violations.iloc[0]
    assert (found["rule"], found["session"], found["symbol"]) == (rule, session, symbol)
    return found


def set_cell(frame: pd.DataFrame, key: str, match: object, column: str, value: object) -> None:
    frame.loc[frame[key] == match, column] = value


def test_a_sound_journal_has_no_violation():
    violations = check(sound_journal())
    assert list(violations.columns) == VIOLATION_COLUMNS
    assert violations.empty


def test_the_statuses_are_the_journals():
    assert set(STATUS_FILLS) == {status.value for status in OrderStatus}


def test_positions_must_be_the_replay_of_the_fills():
    journal = sound_journal()
    positions, equity = journal["positions"], journal["equity"]
    positions.loc[positions["session"] == D3, "qty"] = 181.0
    equity.loc[equity["session"] == D3, "equity"] += 51.0  # the extra share at its close: equity still agrees
    found = only(check(journal), "position_qty", D3, "BBB")
    assert (found["value"], found["expected"]) == (181.0, 180.0)


def test_a_position_missing_from_the_journal_is_reported():
    journal = sound_journal()
    journal["positions"] = journal["positions"][journal["positions"]["session"] != D4]
    set_cell(journal["equity"], "session", D4, "equity", CASH[D4])
    found = only(check(journal), "position_qty", D4, "BBB")
    assert (found["value"], found["expected"]) == (0.0, 180.0)


def test_the_average_price_must_be_the_replays():
    journal = sound_journal()
    set_cell(journal["positions"], "session", D2, "avg_price", 100.0)  # the price before slippage
    found = only(check(journal), "position_avg_price", D2, "AAA")
    assert (found["value"], found["expected"]) == (100.0, 100.05)


def test_equity_must_be_cash_plus_the_positions_at_their_closes():
    journal = sound_journal()
    set_cell(journal["equity"], "session", D4, "equity", CASH[D4] + 180 * 51.0)  # marked at yesterday's close
    found = only(check(journal), "equity_mismatch", D4, None)
    assert found["value"] == pytest.approx(CASH[D4] + 180 * 51.0)
    assert found["expected"] == pytest.approx(CASH[D4] + 180 * 52.0)


def test_cash_must_follow_from_the_capital_and_the_fills():
    journal = sound_journal()
    equity = journal["equity"]
    equity.loc[equity["session"] == D4, ["cash", "equity"]] -= 0.5  # equity agrees with the wrong cash
    found = only(check(journal), "cash_mismatch", D4, None)
    assert found["value"] == pytest.approx(CASH[D4] - 0.5)
    assert found["expected"] == pytest.approx(CASH[D4])


def test_a_session_of_the_book_without_an_equity_row_is_reported():
    journal = sound_journal()
    journal["equity"] = journal["equity"][journal["equity"]["session"] != D3]
    found = only(check(journal), "equity_missing", D3, None)
    assert np.isnan(found["value"])
    assert found["expected"] == pytest.approx(CASH[D3])


def test_a_fill_must_belong_to_a_journaled_order():
    journal = sound_journal()
    journal["orders"] = journal["orders"][journal["orders"]["client_order_id"] != "o3"]
    found = only(check(journal), "fill_without_order", D3, "BBB")
    assert found["value"] == 180.0
    assert "f3" in found["message"] and "o3" in found["message"]


@pytest.mark.parametrize(("column", "value"), [("symbol", "BBB"), ("side", "buy")])
def test_a_fill_must_have_its_orders_symbol_and_side(column, value):
    journal = sound_journal()
    set_cell(journal["orders"], "client_order_id", "o2", column, value)
    found = only(check(journal), "fill_order_mismatch", D3, "AAA")
    assert found["value"] == 4.0


def test_an_order_never_fills_more_than_its_qty():
    journal = sound_journal()
    set_cell(journal["orders"], "client_order_id", "o1", "qty", 8.0)
    found = only(check(journal), "overfilled", D1, "AAA")
    assert (found["value"], found["expected"]) == (10.0, 8.0)


@pytest.mark.parametrize(
    ("order", "status", "filled", "expected"),
    [
        ("o1", "partially_filled", 10.0, 10.0),  # all of it filled: not partial
        ("o1", "cancelled", 10.0, 0.0),
        ("o4", "rejected", 6.0, 0.0),
        ("o5", "filled", 0.0, 3.0),
        ("o5", "partially_filled", 0.0, 3.0),  # nothing filled: not partial either
        ("o1", "submitted", 10.0, 0.0),  # a working order has no fills yet
    ],
)
def test_an_orders_status_must_agree_with_its_fills(order, status, filled, expected):
    journal = sound_journal()
    set_cell(journal["orders"], "client_order_id", order, "status", status)
    row = journal["orders"].set_index("client_order_id").loc[order]
    found = only(check(journal), "order_status", row["session"], row["symbol"])
    assert (found["value"], found["expected"]) == (filled, expected)


@pytest.mark.parametrize(
    ("order", "status", "qty"),
    [("o6", "pending", 5.0), ("o6", "rejected", 5.0), ("o3", "partially_filled", 200.0)],  # o3: 180 of 200 filled
)
def test_statuses_that_agree_with_the_fills_are_sound(order, status, qty):
    journal = sound_journal()
    orders = journal["orders"]
    orders.loc[orders["client_order_id"] == order, ["status", "qty"]] = [status, qty]
    assert check(journal).empty


def test_cash_never_goes_below_zero_even_between_the_open_and_the_exits():
    """With 400 less capital (and every journaled cash 400 lower) the buy at D3's open overdraws the book,
    although the take-profit later that session leaves its close positive."""
    journal = sound_journal()
    journal["equity"][["cash", "equity"]] -= 400.0
    found = only(check(journal, capital=CAPITAL - 400.0), "negative_cash", D3, "BBB")
    assert found["value"] == pytest.approx(AFTER_F3 - 400.0)
    assert AFTER_F3 - 400.0 < 0 < CASH[D3] - 400.0
    assert found["expected"] == 0.0
    assert "f3" in found["message"]


def test_a_sell_at_the_open_comes_before_the_buys_of_the_same_open():
    """On D4 a buy and a sell of 3 CCC, both decided on D3: the sell goes first, when nothing is held."""
    journal = sound_journal()
    orders, fills = journal["orders"], journal["fills"]
    orders.loc[len(orders)] = ["o7", D3, "CCC", "buy", 3.0, "market", np.nan, "Breakout", "filled"]
    orders.loc[len(orders)] = ["o8", D3, "CCC", "sell", 3.0, "market", np.nan, "Breakout", "filled"]
    fills.loc[len(fills)] = ["f7", "o7", D4, "CCC", "buy", 3.0, 10.0, 1.0]
    fills.loc[len(fills)] = ["f8", "o8", D4, "CCC", "sell", 3.0, 10.0, 1.0]
    journal["equity"].loc[journal["equity"]["session"] == D4, ["cash", "equity"]] -= 2.0  # two commissions
    found = only(check(journal), "sell_exceeds_holding", D4, "CCC")
    assert (found["value"], found["expected"]) == (3.0, 0.0)


@pytest.mark.parametrize(
    ("session", "symbol", "column", "value", "fill_price"),
    [(D2, "AAA", "high", 100.0, 100.05), (D3, "AAA", "low", 102.0, 101.9), (D3, "BBB", "high", 50.02, 50.025)],
)
def test_every_fill_lies_inside_its_bar(session, symbol, column, value, fill_price):
    journal = sound_journal()
    bars = journal["bars"]
    bars.loc[(bars["date"] == session) & (bars["symbol"] == symbol), column] = value
    found = only(check(journal), "fill_outside_bar", session, symbol)
    assert (found["value"], found["expected"]) == (fill_price, value)


def test_a_fill_on_a_session_without_a_bar_is_reported():
    journal = sound_journal()
    bars = journal["bars"]
    journal["bars"] = bars[~((bars["date"] == D3) & (bars["symbol"] == "BBB"))]
    found = only(check(journal), "fill_without_bar", D3, "BBB")
    assert found["value"] == 50.025


def set_order_type(journal: dict[str, pd.DataFrame], order: str, order_type: str, limit: float) -> None:
    orders = journal["orders"]
    orders.loc[orders["client_order_id"] == order, ["order_type", "limit_price"]] = [order_type, limit]


@pytest.mark.parametrize(
    ("order", "order_type", "limit"),
    [
        ("o4", "limit", 102.6),  # a sell exactly at its limit
        ("o4", "limit", 102.0),  # a sell above its limit
        ("o3", "limit", 50.025),  # a buy exactly at its limit
        ("o4", "market", np.nan),  # a time stop: a protective market exit on its own session, without a limit
    ],
)
def test_a_limit_order_may_fill_at_its_limit_or_better(order, order_type, limit):
    journal = sound_journal()
    set_order_type(journal, order, order_type, limit)
    assert check(journal).empty


@pytest.mark.parametrize(("order", "limit"), [("o4", 102.7), ("o3", 50.0)])  # a sell below, a buy above its limit
def test_a_limit_order_never_fills_worse_than_its_limit(order, limit):
    journal = sound_journal()
    set_order_type(journal, order, "limit", limit)
    fill = journal["fills"].set_index("client_order_id").loc[order]
    found = only(check(journal), "limit_not_respected", fill["session"], fill["symbol"])
    assert (found["value"], found["expected"]) == (fill["price"], limit)


def test_a_limit_order_without_its_limit_cannot_be_checked_and_is_reported():
    journal = sound_journal()
    set_cell(journal["orders"], "client_order_id", "o4", "limit_price", np.nan)
    found = only(check(journal), "limit_price_missing", D3, "AAA")
    assert found["value"] == 102.6


@pytest.mark.parametrize(
    ("order", "decided", "days", "least"),
    [("o1", D2, 0, 1), ("o3", D3, 0, 1), ("o2", D4, -1, 1), ("o4", D4, -1, 0)],
)
def test_no_order_fills_before_it_is_decided(order, decided, days, least):
    """An order fills at a later session than its decision; a protective exit on its own session at the earliest."""
    journal = sound_journal()
    set_cell(journal["orders"], "client_order_id", order, "session", decided)
    fill = journal["fills"].set_index("client_order_id").loc[order]
    found = only(check(journal), "look_ahead", fill["session"], fill["symbol"])
    assert (found["value"], found["expected"]) == (days, least)


@pytest.mark.parametrize(
    ("table", "change", "error"),
    [
        ("fills", lambda f: f.drop(columns="commission"), "fills: missing columns \\['commission'\\]"),
        ("fills", lambda f: f.assign(price=[100.05, np.nan, 50.025, 102.6]), "'price' has 1 missing"),
        ("fills", lambda f: f.assign(fill_id="f1"), "fills: \\['fill_id'\\] must be unique"),
        ("fills", lambda f: f.assign(qty=-f["qty"]), "fills: qty must be positive"),
        ("orders", lambda o: o.assign(side="short"), "orders: unknown sides \\['short'\\]"),
        ("orders", lambda o: o.assign(status="done"), "orders: unknown statuses \\['done'\\]"),
        ("positions", lambda p: p.assign(qty="ten"), "positions: column 'qty' must be numeric"),
        ("bars", lambda b: b.assign(date="someday"), "bars: column 'date' must hold dates"),
        ("equity", lambda e: e.assign(session=e["session"] + pd.Timedelta(hours=16)), "'session' has a time of day"),
    ],
)
def test_bad_input_is_refused_with_where_it_is(table, change, error):
    journal = sound_journal()
    journal[table] = change(journal[table])
    with pytest.raises(ValueError, match=error):
        check(journal)


@pytest.mark.parametrize("capital", [0.0, -1.0, float("nan")])
def test_the_initial_capital_must_be_positive(capital):
    with pytest.raises(ValueError, match="initial_capital"):
        check(sound_journal(), capital=capital)


def test_a_real_backtests_journal_keeps_every_invariant(instance):
    """The journal of a year of the daily cycle: no violation. Checked independently here too: every fill lies in
    its session's [low, high], and every take-profit (limit) fill is at or above the limit the journal carries."""
    run = run_cycle(instance, "2011-03-01", "2012-02-28")
    assert run.result.success
    orders, fills = run.table("orders"), run.table("fills")
    bars = pd.read_parquet(SAMPLE_BARS)
    assert len(fills) > 0

    priced = fills.merge(bars.rename(columns={"date": "session"}), on=["session", "symbol"], validate="one_to_one")
    assert len(priced) == len(fills)  # every fill has its bar
    assert ((priced["low"] <= priced["price"]) & (priced["price"] <= priced["high"])).all()
    limits = fills.merge(orders[orders["order_type"] == "limit"], on="client_order_id", suffixes=("", "_order"))
    assert len(limits) > 0 and limits["limit_price"].notna().all()
    assert (limits["price"] >= limits["limit_price"]).all()  # a sell limit: at its limit or better

    violations = check_journal(
        orders,
        fills,
        run.table("positions"),
        run.table("equity"),
        bars,
        DEFAULT_RESOURCES["trading"].initial_capital,
    )
    assert violations.empty, violations.to_string()
