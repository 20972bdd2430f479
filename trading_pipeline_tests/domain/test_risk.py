from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from trading_pipeline.domain.book import BookState, Position, orders_to_frame
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.risk.accounts import AccountLimits
from trading_pipeline.domain.risk.limits import RiskLimits
from trading_pipeline.domain.risk.sizing import size_orders
from trading_pipeline.domain.risk.verification import (
    VERIFY_RULES,
    VIOLATION_COLUMNS,
    verify_cash,
    verify_max_open_positions,
    verify_orders,
)

D = date(2024, 3, 1)
LIMITS = RiskLimits()
COSTS = CostModel()


def signal(symbol: str, action: str = "BUY", confidence: float = 0.5, close: float = 10.0, atr: float = 2.0) -> dict:
    return {
        "symbol": symbol,
        "strategy": "TrendFollowing",
        "action": action,
        "confidence": confidence,
        "stop": np.nan,
        "target": np.nan,
        "reason": f"{action} {symbol}",
        "close": close,
        "atr14": atr,
    }


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def marked_book(cash: float, positions: dict[str, tuple[float, float]] | None = None, session: date = D) -> BookState:
    pos = {
        s: Position(symbol=s, qty=q, avg_price=p, last_price=p, entry_session=session - timedelta(days=30), stop=None)
        for s, (q, p) in sorted((positions or {}).items())
    }
    equity = cash + sum(p.qty * p.last_price for p in pos.values())
    return BookState(
        book="main", cash=cash, positions=pos, pending=(), peak_equity=equity, last_session=session, equity=equity
    )


def test_sizing_formula_on_a_hand_example():
    orders, events = size_orders(marked_book(100_000.0), D, frame(signal("AAA")), LIMITS, COSTS)
    assert events == []
    (o,) = orders
    # stop distance 1.5 × 2 = 3; qty = floor(100,000 × 0.02 × 0.5 / 3) = floor(333.3) = 333
    assert (o.side, o.qty, o.ref_price, o.stop_price, o.atr, o.session, o.book) == (
        "buy",
        333.0,
        10.0,
        7.0,
        2.0,
        D,
        "main",
    )
    assert (o.equity_at_decision, o.cash_at_decision, o.position_qty_before, o.open_positions_before) == (
        100_000.0,
        100_000.0,
        0.0,
        0,
    )
    assert (o.strategy, o.reason, o.confidence) == ("TrendFollowing", "BUY AAA", 0.5)


def test_sell_exits_whole_position_and_irrelevant_signals_are_ignored():
    book = marked_book(50_000.0, {"HELD": (120.0, 20.0), "KEEP": (10.0, 5.0)})
    signals = frame(
        signal("HELD", "SELL"),
        signal("FLAT", "SELL"),
        signal("KEEP", "BUY"),
        signal("HOLDME", "HOLD"),
        signal("NEW", "BUY"),
    )
    orders, events = size_orders(book, D, signals, LIMITS, COSTS)
    assert [(o.side, o.symbol, o.qty) for o in orders] == [
        ("sell", "HELD", 120.0),
        ("buy", "NEW", 174.0),
    ]  # floor(52,450 × 0.02 × 0.5 / 3)
    sell = orders[0]
    assert (sell.ref_price, sell.stop_price, sell.position_qty_before, sell.open_positions_before) == (
        20.0,
        None,
        120.0,
        2,
    )
    assert events == []


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        (signal("AAA", confidence=0.29), "min_confidence"),
        (signal("AAA", confidence=np.nan), "min_confidence"),
        (signal("AAA", atr=np.nan), "atr_missing"),
        (signal("AAA", atr=0.0), "atr_missing"),
        (signal("AAA", close=np.nan), "no_reference_price"),
        (signal("AAA", close=2.0, atr=2.0), "invalid_stop"),
        (signal("AAA", close=5_000.0, atr=2_000.0, confidence=0.3), "risk_per_trade"),
    ],
)
def test_rejections_leave_an_event(row, rule):
    orders, (event,) = size_orders(marked_book(100_000.0), D, frame(row), LIMITS, COSTS)
    assert orders == []
    assert (event.rule, event.action, event.symbol, event.session) == (rule, "rejected", "AAA", D)


def test_position_limit_clip():
    # confidence 1, ATR 0.2 → stop 0.3 → qty floor(2,000 / 0.3) = 6,666 worth 66,660 > 20% of 100,000
    orders, (event,) = size_orders(
        marked_book(100_000.0), D, frame(signal("AAA", confidence=1.0, atr=0.2)), LIMITS, COSTS
    )
    assert orders[0].qty == 2_000.0
    assert (event.rule, event.action, event.value, event.limit) == ("position_limit", "clipped", 66_660.0, 20_000.0)


def test_max_shares_clip():
    limits = RiskLimits(max_shares_per_order=100)
    orders, (event,) = size_orders(marked_book(100_000.0), D, frame(signal("AAA")), limits, COSTS)
    assert orders[0].qty == 100.0
    assert (event.rule, event.action, event.value, event.limit) == ("max_shares_per_order", "clipped", 333.0, 100.0)


def test_cash_clip_in_confidence_order_and_sale_proceeds_not_counted():
    # equity 100,000 but only 5,000 cash; the pending HELD sale is not counted.
    book = marked_book(5_000.0, {"HELD": (950.0, 100.0)})
    signals = frame(signal("HELD", "SELL"), signal("AAA", confidence=0.5), signal("BBB", confidence=0.6))
    orders, events = size_orders(book, D, signals, LIMITS, COSTS)
    # BBB first (higher confidence): floor(100,000 × 0.02 × 0.6 / 3) = 400 → 400 × 10.005 + 2 = 4,004 ≤ 5,000
    # AAA: 333 shares would cost 3,332.665 > 995.998 left → floor((995.998 − 1) / 10.005) = 99
    assert [(o.side, o.symbol, o.qty) for o in orders] == [
        ("sell", "HELD", 950.0),
        ("buy", "AAA", 99.0),
        ("buy", "BBB", 400.0),
    ]
    (event,) = events
    assert (event.rule, event.action, event.symbol) == ("cash", "clipped", "AAA")
    assert event.value == pytest.approx(333 * 10.005 + 1.665) and event.limit == pytest.approx(5_000 - 4_004.0)


def test_cash_buffer_and_zero_cash_rejection():
    limits = RiskLimits(cash_buffer_pct=0.05)
    book = marked_book(5_000.0, {"HELD": (950.0, 100.0)})  # buffer 5% × 100,000 = all of the cash
    orders, (event,) = size_orders(book, D, frame(signal("AAA")), limits, COSTS)
    assert orders == [] and (event.rule, event.action, event.limit) == ("cash", "rejected", 0.0)


def test_max_open_positions_ranks_by_confidence_then_symbol():
    limits = RiskLimits(max_open_positions=2)
    book = marked_book(90_000.0, {"HELD": (100.0, 100.0)})
    signals = frame(signal("BBB", confidence=0.5), signal("AAA", confidence=0.5), signal("ZZZ", confidence=0.9))
    orders, events = size_orders(book, D, signals, limits, COSTS)
    assert [o.symbol for o in orders] == ["ZZZ"]
    assert [(e.symbol, e.rule, e.action, e.value, e.limit) for e in events] == [
        ("AAA", "max_open_positions", "rejected", 3.0, 2.0),
        ("BBB", "max_open_positions", "rejected", 3.0, 2.0),
    ]
    # selling HELD frees its slot for the best of the rest (AAA before BBB at equal confidence)
    orders, events = size_orders(book, D, pd.concat([signals, frame(signal("HELD", "SELL"))]), limits, COSTS)
    assert [(o.side, o.symbol) for o in orders] == [("sell", "HELD"), ("buy", "AAA"), ("buy", "ZZZ")]
    assert [(e.symbol, e.rule) for e in events] == [("BBB", "max_open_positions")]


def test_bad_inputs_are_rejected():
    book = marked_book(100_000.0)
    with pytest.raises(ValueError, match="marked at"):
        size_orders(book, D + timedelta(days=1), frame(signal("AAA")), LIMITS, COSTS)
    with pytest.raises(ValueError, match="missing columns"):
        size_orders(book, D, frame(signal("AAA")).drop(columns="atr14"), LIMITS, COSTS)
    with pytest.raises(ValueError, match="more than one"):
        size_orders(book, D, frame(signal("AAA"), signal("AAA", "SELL")), LIMITS, COSTS)
    with pytest.raises(ValueError, match="unknown actions"):
        size_orders(book, D, frame(signal("AAA", "SHORT")), LIMITS, COSTS)
    with pytest.raises(ValueError, match="outside"):
        size_orders(book, D, frame(signal("AAA", confidence=1.5)), LIMITS, COSTS)
    with pytest.raises(ValueError, match="other dates"):
        size_orders(book, D, frame(signal("AAA")).assign(date=pd.Timestamp("2024-01-01")), LIMITS, COSTS)
    with pytest.raises(ValidationError):
        RiskLimits(risk_per_trade=-0.01)
    with pytest.raises(ValidationError):
        RiskLimits(max_open_positions=0)


def random_signals(rng: np.random.Generator, symbols: list[str], held: set[str]) -> pd.DataFrame:
    """A messy but plausible signal set: every action, confidences around the threshold, some ATRs missing."""
    n = len(symbols)
    actions = rng.choice(["BUY", "SELL", "HOLD"], size=n, p=[0.5, 0.2, 0.3])
    actions = np.where([s in held for s in symbols] & (rng.random(n) < 0.4), "SELL", actions)
    close = np.round(rng.lognormal(3.5, 1.0, n), 2)
    atr = np.where(rng.random(n) < 0.05, np.nan, close * rng.uniform(0.005, 0.08, n))
    return pd.DataFrame(
        {
            "symbol": symbols,
            "strategy": "MeanReversion",
            "action": actions,
            "confidence": np.round(rng.uniform(0.1, 1.0, n), 3),
            "stop": np.nan,
            "target": np.nan,
            "reason": "random",
            "close": close,
            "atr14": atr,
        }
    )


def random_case(seed: int) -> tuple[BookState, date, pd.DataFrame, RiskLimits]:
    rng = np.random.default_rng(seed)
    session = D + timedelta(days=seed)
    symbols = [f"S{i:02d}" for i in range(int(rng.integers(5, 40)))]
    held = sorted(rng.choice(symbols, size=int(rng.integers(0, min(12, len(symbols)))), replace=False).tolist())
    positions = {s: (float(rng.integers(1, 500)), float(np.round(rng.lognormal(3.5, 1.0), 2))) for s in held}
    book = marked_book(float(np.round(rng.uniform(0, 200_000), 2)), positions, session)
    limits = RiskLimits(
        risk_per_trade=float(rng.uniform(0.005, 0.05)),
        max_position_pct=float(rng.uniform(0.05, 0.4)),
        max_open_positions=int(rng.integers(3, 15)),
        max_shares_per_order=int(rng.integers(50, 5_000)),
        cash_buffer_pct=float(rng.choice([0.0, 0.02])),
    )
    return book, session, random_signals(rng, symbols, set(held)), limits


@pytest.mark.parametrize("seed", range(40))
def test_size_orders_output_always_verifies(seed):
    book, session, signals, limits = random_case(seed)
    orders, _ = size_orders(book, session, signals, limits, COSTS)
    violations = verify_orders(orders_to_frame(orders), limits, COSTS)
    assert violations.empty, violations.to_string()
    assert list(violations.columns) == VIOLATION_COLUMNS
    assert orders == size_orders(book, session, signals, limits, COSTS)[0]  # deterministic


def test_verify_many_sessions_at_once():
    all_orders = []
    for seed in range(40):
        book, session, signals, _ = random_case(seed)
        all_orders += size_orders(book, session, signals, LIMITS, COSTS)[0]
    orders = orders_to_frame(all_orders)
    assert orders["session"].nunique() > 30 and (orders["side"] == "buy").sum() > 100
    assert verify_orders(orders, LIMITS, COSTS).empty


def sized_frame() -> pd.DataFrame:
    book = marked_book(100_000.0, {"HELD": (10.0, 50.0)})
    signals = frame(signal("AAA"), signal("BBB", confidence=0.4), signal("HELD", "SELL"))
    orders, _ = size_orders(book, D, signals, LIMITS, COSTS)
    out = orders_to_frame(orders)
    assert verify_orders(out, LIMITS, COSTS).empty
    return out


def inject(rule: str) -> pd.DataFrame:
    """A valid frame with one order made to break ``rule`` only."""
    orders = sized_frame()
    aaa = orders["symbol"] == "AAA"
    if rule == "risk_per_trade":
        orders.loc[aaa, "stop_price"] = 1.0  # 333 × 9 = 2,997 at risk > 2,000
    elif rule == "position_limit":
        orders.loc[aaa, "position_qty_before"] = 1_800.0  # (1,800 + 333) × 10 > 20,000
    elif rule == "max_shares_per_order":
        orders.loc[aaa, ["qty", "stop_price"]] = [10_001.0, 9.99]
        orders[["equity_at_decision", "cash_at_decision", "account_equity"]] = 1e7
    elif rule == "min_confidence":
        orders.loc[aaa, "confidence"] = 0.2
    elif rule == "max_open_positions":
        orders["open_positions_before"] = 10  # 10 − 1 + 2 = 11
    elif rule == "cash":
        orders["cash_at_decision"] = 5_000.0  # 333 and 266 shares at ~10 cost ~6,000
    elif rule == "sector_limit":
        orders.loc[aaa, "sector_value_before"] = 29_000.0  # 29,000 + 3,330 > 30% of 100,000
    elif rule == "daily_loss_limit":
        orders.loc[aaa, "day_start_equity"] = 110_000.0  # the day lost 9.1% > 5%
    elif rule == "circuit_breaker":
        orders.loc[aaa, "breaker_tripped"] = True
    elif rule == "not_halted":
        orders.loc[aaa, "halted"] = True
    elif rule == "account_gross_exposure":
        orders.loc[aaa, "account_exposure_before"] = 99_000.0  # 99,000 + 3,330 + 2,660 > 1.0 × 100,500
    elif rule == "account_daily_loss":
        orders.loc[aaa, "account_day_start_equity"] = 110_000.0  # the account lost 8.6% > 5%
    return orders


@pytest.mark.parametrize("rule", sorted(VERIFY_RULES))
def test_each_rule_catches_its_injected_breach(rule):
    orders = inject(rule)
    account = AccountLimits(max_daily_loss=0.05)  # the default account has no daily loss limit of its own
    caught = VERIFY_RULES[rule](orders, LIMITS, COSTS, account)
    assert len(caught) == 1 and caught["rule"].tolist() == [rule]
    assert caught["session"].iloc[0] == pd.Timestamp(D)
    assert verify_orders(orders, LIMITS, COSTS, account)["rule"].tolist() == [rule]
    row = caught.iloc[0]
    # min_confidence and the daily losses are floors; the breaker's value is the drawdown, flagged by state here
    assert row["value"] > row["limit"] or rule in ("min_confidence", "daily_loss_limit", "account_daily_loss")


def test_session_rules_report_per_session_and_ignore_sell_only_days():
    orders = sized_frame()
    sell_only = orders[orders["side"] == "sell"].assign(open_positions_before=50)
    assert verify_max_open_positions(sell_only, LIMITS, COSTS).empty
    assert verify_cash(sell_only.assign(cash_at_decision=-1.0), LIMITS, COSTS).empty
    tight = inject("cash")
    caught = verify_cash(tight, LIMITS, COSTS)
    assert caught["symbol"].isna().all()
    buys = tight[tight["side"] == "buy"]
    expected = (buys["qty"] * buys["ref_price"] * 1.0005 + np.maximum(1.0, 0.005 * buys["qty"])).sum()
    assert caught["value"].iloc[0] == pytest.approx(expected)


def test_verify_edge_cases():
    empty = verify_orders(pd.DataFrame(), LIMITS, COSTS)
    assert empty.empty and list(empty.columns) == VIOLATION_COLUMNS
    orders = sized_frame()
    orders.loc[orders["side"] == "buy", "stop_price"] = np.nan
    assert set(verify_orders(orders, LIMITS, COSTS)["rule"]) == {"risk_per_trade"}  # unverifiable counts as a breach
    with pytest.raises(ValueError, match="missing columns"):
        verify_orders(orders.drop(columns="cash_at_decision"), LIMITS, COSTS)
