"""The reference configuration: the project's accounting in a form any other backtest engine can match.

Fixed-fraction sizing (``fraction`` of equity at the signal's close, in whole shares), market orders
filled at the next session's open, a flat commission per order, no slippage and no protective exits:
a BUY opens a position in a symbol not held, a SELL closes it in full. It runs the very session loop,
simulator and cost model of the daily cycle (``engine.run_sessions``); only the sizing is the
reference's, so comparing its equity curve and fills with another engine checks our accounting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import pandas as pd

from trading_pipeline.domain.book import BookState, Order, RiskEvent, as_session, client_order_id, fills_to_frame
from trading_pipeline.domain.costs import CostModel
from trading_pipeline.domain.engine import Decide, PricePanels, equity_curve, run_sessions
from trading_pipeline.domain.schema import Action

REFERENCE_SIGNAL_COLUMNS = ["date", "symbol", "action", "close"]


def reference_costs(commission: float) -> CostModel:
    """A flat ``commission`` per order, no per-share part, no slippage."""
    return CostModel(commission_per_share=0.0, min_commission=commission, slippage_bps=0.0)


def fixed_fraction_decider(signals: pd.DataFrame, fraction: float, costs: CostModel) -> Decide:
    """Decide each session's orders from BUY/SELL signals (``REFERENCE_SIGNAL_COLUMNS``)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    missing = sorted(set(REFERENCE_SIGNAL_COLUMNS) - set(signals.columns))
    if missing:
        raise ValueError(f"reference signals lack columns {missing}")
    acting = signals[signals["action"].isin([Action.BUY.value, Action.SELL.value])]
    by_session = {as_session(pd.Timestamp(d).to_pydatetime()): g for d, g in acting.groupby("date")}

    def decide(state: BookState, session: date) -> tuple[list[Order], list[RiskEvent]]:
        orders: list[Order] = []
        rows = by_session.get(session)
        for row in [] if rows is None else rows.sort_values("symbol").itertuples(index=False):
            held = state.positions.get(row.symbol)
            if row.action == Action.SELL.value and held is not None:
                qty, side = held.qty, "sell"
            elif row.action == Action.BUY.value and held is None and math.isfinite(row.close) and row.close > 0:
                qty, side = math.floor((state.equity * fraction - costs.min_commission) / row.close), "buy"
            else:
                continue
            if qty <= 0:
                continue
            orders.append(
                Order(
                    client_order_id=client_order_id(state.book, session, row.symbol, side),
                    book=state.book, session=session, symbol=row.symbol, side=side, qty=float(qty),
                    ref_price=float(row.close), stop_price=None, atr=None, confidence=1.0,
                    strategy="reference", reason=f"reference {side}", equity_at_decision=state.equity,
                    cash_at_decision=state.cash, position_qty_before=held.qty if held else 0.0,
                    open_positions_before=len(state.positions),
                )
            )  # fmt: skip
        return orders, []

    return decide


def reference_backtest(
    bars: pd.DataFrame,
    signals: pd.DataFrame,
    sessions: Sequence[date],
    initial_capital: float = 100_000.0,
    fraction: float = 1.0,
    commission: float = 1.0,
) -> tuple[pd.Series, pd.DataFrame]:
    """Equity after each session's close, and the fills, of the reference configuration."""
    costs = reference_costs(commission)
    results = run_sessions(
        BookState.initial("reference", initial_capital),
        sessions,
        PricePanels.from_bars(bars, sessions),
        fixed_fraction_decider(signals, fraction, costs),
        costs,
    )
    return equity_curve(results), fills_to_frame(f for r in results for f in r.fills)
