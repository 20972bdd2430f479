"""Independent verification of final orders: every limit re-derived from the orders' decision-time snapshot.

It is vectorized over many sessions and never imports the sizer (``sizing``), so a bug in the sizer cannot hide behind
the same bug in the check that guards it: the blocking asset checks and the execution step's last guard run these.
Each rule reads the book's limits, the costs and the limits of the book's account (by default the default account's).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pandas as pd

from trading_pipeline.domain.book import check_trade_frame
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.risk.accounts import DEFAULT_ACCOUNT_LIMITS, AccountLimits
from trading_pipeline.domain.risk.limits import RiskLimits

VIOLATION_COLUMNS = ["session", "symbol", "rule", "value", "limit", "message"]
VERIFY_ORDER_COLUMNS = [
    "session",
    "symbol",
    "side",
    "qty",
    "ref_price",
    "stop_price",
    "confidence",
    "equity_at_decision",
    "cash_at_decision",
    "position_qty_before",
    "open_positions_before",
    "sector_value_before",
    "day_start_equity",
    "risk_peak_at_decision",
    "losing_streak_before",
    "breaker_tripped",
    "halted",
    "account_exposure_before",
    "account_equity",
    "account_day_start_equity",
    "sector",
]
_NUMERIC_VERIFY_COLUMNS = VERIFY_ORDER_COLUMNS[3:-1]
# Relative tolerance of the verification: absorbs float re-association, never a whole share.
RTOL = 1e-9
Rule = Callable[[pd.DataFrame, RiskLimits, CostModel, AccountLimits], pd.DataFrame]


def _violations(
    frame: pd.DataFrame, mask: pd.Series, rule: str, value: pd.Series, limit: pd.Series | float, message: str
) -> pd.DataFrame:
    """Rows of ``frame`` where ``mask`` holds, as violations of ``rule``; ``message`` gets ``value`` and ``limit``."""
    limit = pd.Series(limit, index=frame.index, dtype="float64") if np.isscalar(limit) else limit
    hit = mask.fillna(False).astype(bool)
    if not hit.any():
        return _empty()
    out = pd.DataFrame(
        {
            "session": frame.loc[hit, "session"],
            "symbol": frame.loc[hit, "symbol"],
            "rule": rule,
            "value": value[hit].astype("float64"),
            "limit": limit[hit].astype("float64"),
        }
    )
    out["message"] = [message.format(value=v, limit=lim) for v, lim in zip(out["value"], out["limit"], strict=True)]
    return out[VIOLATION_COLUMNS].reset_index(drop=True)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="float64" if c in ("value", "limit") else "object") for c in VIOLATION_COLUMNS}
    )


def _over(value: pd.Series, limit: pd.Series | float) -> pd.Series:
    """True where ``value`` exceeds ``limit`` beyond the relative tolerance; NaN (unverifiable) counts as a breach."""
    return ~(value <= limit + RTOL * np.abs(limit))


def _prepared(orders: pd.DataFrame) -> pd.DataFrame:
    check_trade_frame(orders, VERIFY_ORDER_COLUMNS, "orders")
    frame = orders.copy()
    for col in _NUMERIC_VERIFY_COLUMNS:
        frame[col] = pd.to_numeric(frame[col], errors="raise").astype("float64")
    if "book" not in frame.columns:
        frame["book"] = ""
    return frame


def _buys(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["side"] == "buy"]


def _commission(qty: pd.Series, costs: CostModel) -> pd.Series:
    return np.maximum(costs.min_commission, costs.commission_per_share * qty)


def _check(rule: Rule) -> Callable[..., pd.DataFrame]:
    """Wrap a rule on a validated, numeric orders frame into the public check (empty orders → no violations)."""

    @functools.wraps(rule)
    def verify(
        orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits = DEFAULT_ACCOUNT_LIMITS
    ) -> pd.DataFrame:
        if len(orders) == 0:
            return _empty()
        return rule(_prepared(orders), limits, costs, account)

    return verify


@_check
def verify_risk_per_trade(
    orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits
) -> pd.DataFrame:
    """Buys: money at risk to the stop, qty × (ref − stop), within risk_per_trade × equity (a missing stop fails)."""
    b = _buys(orders)
    value = b["qty"] * (b["ref_price"] - b["stop_price"])
    limit = limits.risk_per_trade * b["equity_at_decision"]
    return _violations(
        b,
        _over(value, limit),
        "risk_per_trade",
        value,
        limit,
        "risk to the stop {value:,.2f} exceeds risk_per_trade × equity {limit:,.2f}",
    )


@_check
def verify_position_limit(
    orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits
) -> pd.DataFrame:
    """Buys: the resulting position, (held + qty) × ref, within max_position_pct × equity."""
    b = _buys(orders)
    value = (b["position_qty_before"] + b["qty"]) * b["ref_price"]
    limit = limits.max_position_pct * b["equity_at_decision"]
    return _violations(
        b,
        _over(value, limit),
        "position_limit",
        value,
        limit,
        "position value {value:,.2f} exceeds max_position_pct × equity {limit:,.2f}",
    )


@_check
def verify_max_shares_per_order(
    orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits
) -> pd.DataFrame:
    """Buys: qty within max_shares_per_order (exits are never blocked by size)."""
    b = _buys(orders)
    return _violations(
        b,
        _over(b["qty"], float(limits.max_shares_per_order)),
        "max_shares_per_order",
        b["qty"],
        float(limits.max_shares_per_order),
        "qty {value:,.0f} exceeds max_shares_per_order {limit:,.0f}",
    )


@_check
def verify_min_confidence(
    orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits
) -> pd.DataFrame:
    """Buys: confidence at least min_confidence (a missing confidence fails)."""
    b = _buys(orders)
    mask = ~(b["confidence"] >= limits.min_confidence)
    return _violations(
        b,
        mask,
        "min_confidence",
        b["confidence"],
        limits.min_confidence,
        "confidence {value:.3f} is below min_confidence {limit:.3f}",
    )


def _per_session(orders: pd.DataFrame) -> pd.DataFrame:
    """Per (book, session): buy and sell counts and the most conservative decision-time snapshot."""
    is_buy = orders["side"] == "buy"
    return (
        orders.assign(n_buy=is_buy.astype("int64"), n_sell=(~is_buy).astype("int64"))
        .groupby(["book", "session"], sort=True, dropna=False)
        .agg(
            n_buy=("n_buy", "sum"),
            n_sell=("n_sell", "sum"),
            open_before=("open_positions_before", "max"),
            cash=("cash_at_decision", "min"),
            equity=("equity_at_decision", "min"),
        )
        .reset_index()
    )


def _session_violations(
    sessions: pd.DataFrame, mask: pd.Series, rule: str, value: pd.Series, limit: pd.Series | float, message: str
) -> pd.DataFrame:
    return _violations(sessions.assign(symbol=None), mask, rule, value, limit, message)


@_check
def verify_max_open_positions(
    orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits
) -> pd.DataFrame:
    """Per session with buys: open positions before − sells + buys within max_open_positions."""
    s = _per_session(orders)
    value = (s["open_before"] - s["n_sell"] + s["n_buy"]).astype("float64")
    mask = (s["n_buy"] > 0) & _over(value, float(limits.max_open_positions))
    return _session_violations(
        s,
        mask,
        "max_open_positions",
        value,
        float(limits.max_open_positions),
        "{value:.0f} open positions after the session's orders exceed max_open_positions {limit:.0f}",
    )


@_check
def verify_cash(orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits) -> pd.DataFrame:
    """Per session: Σ buy qty × ref × (1 + slippage) + commission within cash at decision less the cash buffer."""
    b = _buys(orders)
    if b.empty:
        return _empty()
    cost = (b["qty"] * b["ref_price"] * (1.0 + costs.slippage_bps / 10_000.0) + _commission(b["qty"], costs)).rename(
        "cost"
    )
    spent = b.assign(cost=cost).groupby(["book", "session"], sort=True, dropna=False)["cost"].sum().rename("spent")
    s = _per_session(b).merge(spent.reset_index(), on=["book", "session"], how="left", validate="one_to_one")
    limit = s["cash"] - limits.cash_buffer_pct * s["equity"]
    return _session_violations(
        s,
        _over(s["spent"], limit),
        "cash",
        s["spent"],
        limit,
        "estimated buy cost {value:,.2f} exceeds cash at decision less the buffer {limit:,.2f}",
    )


@_check
def verify_sector_limit(
    orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits
) -> pd.DataFrame:
    """Per session and sector: held value in the sector + Σ buy qty × ref within max_sector_pct × equity."""
    b = _buys(orders)
    if b.empty:
        return _empty()
    keys = ["book", "session", "sector"]
    s = (
        b.assign(value=b["qty"] * b["ref_price"])
        .groupby(keys, sort=True, dropna=False)
        .agg(held=("sector_value_before", "max"), bought=("value", "sum"), equity=("equity_at_decision", "min"))
        .reset_index()
    )
    value = s["held"] + s["bought"]
    limit = limits.max_sector_pct * s["equity"]
    out = _session_violations(
        s,
        _over(value, limit),
        "sector_limit",
        value,
        limit,
        "sector value {value:,.2f} after the session's buys exceeds max_sector_pct × equity {limit:,.2f}",
    )
    hit = s.loc[_over(value, limit).fillna(True).astype(bool), "sector"].tolist()
    out["message"] = [f"{sector}: {m}" for sector, m in zip(hit, out["message"], strict=True)]
    return out


@_check
def verify_daily_loss(
    orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits
) -> pd.DataFrame:
    """Buys: the day's return at decision, equity ÷ previous close's equity − 1, not below −max_daily_loss."""
    b = _buys(orders)
    value = b["equity_at_decision"] / b["day_start_equity"] - 1.0
    mask = ~(value >= -limits.max_daily_loss - RTOL)
    return _violations(
        b,
        mask,
        "daily_loss_limit",
        value,
        -limits.max_daily_loss,
        "new risk on a day that lost {value:.2%} (limit {limit:.2%}); a missing day start fails",
    )


@_check
def verify_circuit_breaker(
    orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits
) -> pd.DataFrame:
    """Buys: none while the breaker is tripped, past max_drawdown from the breaker's peak or the losing streak."""
    b = _buys(orders)
    value = b["equity_at_decision"] / b["risk_peak_at_decision"] - 1.0
    mask = (
        (b["breaker_tripped"] != 0)
        | ~(value >= -limits.max_drawdown - RTOL)
        | ~(b["losing_streak_before"] < limits.max_losing_streak)
    )
    return _violations(
        b,
        mask,
        "circuit_breaker",
        value,
        -limits.max_drawdown,
        "new risk while the circuit breaker is tripped or due (drawdown {value:.2%}, limit {limit:.2%}, "
        "or the losing streak)",
    )


@_check
def verify_not_halted(
    orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits
) -> pd.DataFrame:
    """Buys: none decided while the book was halted (its kill switch)."""
    b = _buys(orders)
    return _violations(
        b,
        b["halted"] != 0,
        "not_halted",
        b["halted"],
        0.0,
        "a buy decided while the book is halted (a halted book takes no new entry)",
    )


@_check
def verify_account_gross_exposure(
    orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits
) -> pd.DataFrame:
    """Per session: the account's gross exposure before + Σ buy qty × ref within max_gross_exposure × its equity."""
    b = _buys(orders)
    if b.empty:
        return _empty()
    s = (
        b.assign(value=b["qty"] * b["ref_price"])
        .groupby(["book", "session"], sort=True, dropna=False)
        .agg(before=("account_exposure_before", "max"), bought=("value", "sum"), equity=("account_equity", "min"))
        .reset_index()
    )
    value = s["before"] + s["bought"]
    limit = account.max_gross_exposure * s["equity"]
    return _session_violations(
        s,
        _over(value, limit),
        "account_gross_exposure",
        value,
        limit,
        "the account's gross exposure {value:,.2f} after the session's buys exceeds max_gross_exposure × its "
        "equity {limit:,.2f} (a missing snapshot fails)",
    )


@_check
def verify_account_daily_loss(
    orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits
) -> pd.DataFrame:
    """Buys: the account's day at decision, its equity ÷ its equity at the day's start − 1, not below −max_daily_loss
    (an account without a daily loss limit of its own: nothing to check)."""
    if account.max_daily_loss is None:
        return _empty()
    b = _buys(orders)
    value = b["account_equity"] / b["account_day_start_equity"] - 1.0
    mask = ~(value >= -account.max_daily_loss - RTOL)
    return _violations(
        b,
        mask,
        "account_daily_loss",
        value,
        -account.max_daily_loss,
        "new risk on a day the account lost {value:.2%} (limit {limit:.2%}); a missing snapshot fails",
    )


VERIFY_RULES: dict[str, Callable[..., pd.DataFrame]] = {
    "risk_per_trade": verify_risk_per_trade,
    "position_limit": verify_position_limit,
    "sector_limit": verify_sector_limit,
    "max_shares_per_order": verify_max_shares_per_order,
    "max_open_positions": verify_max_open_positions,
    "cash": verify_cash,
    "min_confidence": verify_min_confidence,
    "daily_loss_limit": verify_daily_loss,
    "circuit_breaker": verify_circuit_breaker,
    "not_halted": verify_not_halted,
    "account_gross_exposure": verify_account_gross_exposure,
    "account_daily_loss": verify_account_daily_loss,
}


def verify_orders(
    orders: pd.DataFrame, limits: RiskLimits, costs: CostModel, account: AccountLimits = DEFAULT_ACCOUNT_LIMITS
) -> pd.DataFrame:
    """Violations of every rule, rule by rule in a stable order; columns are ``VIOLATION_COLUMNS``."""
    parts = [check(orders, limits, costs, account) for check in VERIFY_RULES.values()]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else _empty()
