"""The ledger side of a real broker: executions it reports become book changes, and books are reconciled.

A broker's fill is a fact, not a decision: ``apply_executions`` books it at the broker's price and quantity
(no affordability or stop rule may drop it). ``positions_by_session`` replays the journal's fills into the
positions they imply, and ``compare_positions`` lists every difference, so a journal whose positions and
fills disagree, or a broker whose positions differ from the journal's, is caught.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from trading_pipeline.domain.book import BookState, Fill, Order, RiskEvent, after_buy, compute_equity

QTY_TOLERANCE = 1e-6


def apply_executions(
    state: BookState, session: date, executions: Sequence[tuple[Order, Fill]]
) -> tuple[BookState, list[RiskEvent]]:
    """``state`` after the broker's fills of ``session`` (before the close); no order stays pending.

    A buy opens or adds to a position, carrying its order's exit instructions; a sell reduces it. A sell
    of more than the book holds is booked up to the holding and reported (the book is long-only; the
    difference will show in the reconciliation). ``day_start_equity`` becomes the previous close's equity.
    """
    cash = state.cash
    positions = dict(state.positions)
    streak = state.losing_streak
    events: list[RiskEvent] = []
    for order, fill in executions:
        if fill.client_order_id != order.client_order_id or fill.symbol != order.symbol or fill.side != order.side:
            raise ValueError(f"fill {fill.fill_id} does not belong to order {order.client_order_id}")
        held = positions.get(fill.symbol)
        if fill.side == "buy":
            cash -= fill.qty * fill.price + fill.commission
            positions[fill.symbol] = after_buy(held, order, fill.qty, fill.price, session, mark=fill.price)
            continue
        qty = fill.qty
        if held is None or qty > held.qty + QTY_TOLERANCE:
            have = 0.0 if held is None else held.qty
            events.append(
                RiskEvent(
                    session=session,
                    symbol=fill.symbol,
                    rule="broker_sold_more_than_held",
                    action="clipped",
                    value=qty,
                    limit=have,
                    message=f"{order.client_order_id}: the broker sold {qty:g}, the book held {have:g}",
                )
            )
            if held is None:
                continue
            qty = held.qty
        cash += qty * fill.price - fill.commission * (qty / fill.qty)
        if held.qty - qty <= QTY_TOLERANCE:
            pnl = qty * (fill.price - held.avg_price) - fill.commission
            streak = streak + 1 if pnl < 0 else 0
            del positions[fill.symbol]
        else:
            positions[fill.symbol] = replace(held, qty=held.qty - qty, last_price=fill.price)
    positions = {s: positions[s] for s in sorted(positions)}
    new_state = replace(
        state,
        cash=cash,
        positions=positions,
        pending=(),
        equity=compute_equity(cash, positions),
        day_start_equity=state.equity,
        losing_streak=streak,
    )
    return new_state, events


def positions_by_session(fills: pd.DataFrame, sessions: Sequence[date]) -> pd.DataFrame:
    """Net quantity per (session, symbol) that the fills up to each session's end imply; zero rows dropped.

    ``fills`` holds every fill of the book from its start (columns session, symbol, side, qty).
    """
    index = pd.DatetimeIndex(pd.to_datetime(list(sessions)), name="session")
    if fills.empty:
        return pd.DataFrame(
            {
                "session": pd.Series(dtype="datetime64[ns]"),
                "symbol": pd.Series(dtype=object),
                "qty": pd.Series(dtype="float64"),
            }
        )
    signed = fills.assign(
        session=pd.to_datetime(fills["session"]),
        signed=np.where(fills["side"] == "buy", 1.0, -1.0) * fills["qty"].astype("float64"),
    )
    daily = signed.pivot_table(index="session", columns="symbol", values="signed", aggfunc="sum")
    held = daily.cumsum().reindex(daily.index.union(index)).ffill().reindex(index).fillna(0.0)
    long = held.stack().rename("qty").reset_index()
    return long[long["qty"].abs() > QTY_TOLERANCE].reset_index(drop=True)


def compare_positions(expected: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    """Rows (session, symbol, expected, actual, difference) where the two (session, symbol, qty) tables differ."""
    keys = ["session", "symbol"]

    def side(frame: pd.DataFrame, name: str) -> pd.DataFrame:
        out = frame[[*keys, "qty"]].rename(columns={"qty": name}).astype({"symbol": object, name: "float64"})
        return out.assign(session=pd.to_datetime(out["session"]).astype("datetime64[ns]"))

    merged = pd.merge(
        side(expected, "expected"),
        side(actual, "actual"),
        on=keys,
        how="outer",
    ).fillna({"expected": 0.0, "actual": 0.0})
    merged["difference"] = merged["actual"] - merged["expected"]
    bad = merged[merged["difference"].abs() > QTY_TOLERANCE]
    return bad.sort_values(keys, ignore_index=True)


def positions_frame(session: date, quantities: Mapping[str, float]) -> pd.DataFrame:
    """A (session, symbol, qty) table of one session's quantities, e.g. a broker's positions now."""
    return pd.DataFrame(
        {"session": pd.Timestamp(session), "symbol": list(quantities), "qty": [float(q) for q in quantities.values()]},
        columns=["session", "symbol", "qty"],
    )
