"""The facts of a session, gathered from the journal, and the deterministic Markdown narrative of them.

The facts are the only input of any narrative (template or model), so every number a reader sees comes
from the journal; an LLM narrative is followed by the template's figures for the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd

MAX_LISTED = 10


def session_facts(
    book: str,
    sessions: list[date],
    choice_counts: pd.DataFrame,
    orders: pd.DataFrame,
    fills: pd.DataFrame,
    risk_events: pd.DataFrame,
    equity: pd.DataFrame,
) -> dict[date, dict[str, Any]]:
    """One JSON-ready facts mapping per session. ``equity`` may start before the first session: the row
    before it gives the first session's P&L. Every table is grouped once (a backtest has thousands of sessions)."""
    decisions = _decisions(choice_counts)
    listed = {
        "orders": _listed(orders, ["symbol", "side", "qty", "status", "strategy"]),
        "risk_events": _listed(risk_events, ["symbol", "rule", "action", "value", "limit_value", "message"]),
        "fills": _listed(fills, ["symbol", "side", "qty", "price", "commission"]),
    }
    curve = equity.sort_values("session").assign(pnl=lambda f: f["equity"].diff()) if len(equity) else equity
    marks = {pd.Timestamp(row["session"]): row for row in curve.to_dict("records")} if len(curve) else {}
    none = {"count": 0, "rows": []}
    facts: dict[date, dict[str, Any]] = {}
    for session in sessions:
        stamp = pd.Timestamp(session)
        mark = marks.get(stamp)
        facts[session] = {
            "book": book,
            "session": session.isoformat(),
            "decisions": decisions.get(stamp, {"symbols": 0, "strategies": {}, "sources": {}}),
            **{name: by_session.get(stamp, none) for name, by_session in listed.items()},
            "equity": None if mark is None else _round(mark["equity"]),
            "cash": None if mark is None else _round(mark["cash"]),
            "drawdown": None if mark is None else _round(mark["drawdown"], 4),
            "pnl": None if mark is None or pd.isna(mark["pnl"]) else _round(mark["pnl"]),
        }
    return facts


def template_narrative(facts: Mapping[str, Any]) -> str:
    """The deterministic narrative: the offline default and the fallback of the LLM writer."""
    decisions = facts["decisions"]
    lines = [f"## Audit of {facts['book']} on {facts['session']}", ""]
    if decisions["symbols"]:
        strategies = ", ".join(f"{name} {n}" for name, n in decisions["strategies"].items())
        sources = ", ".join(f"{name} {n}" for name, n in decisions["sources"].items())
        lines.append(f"**Decisions**: {decisions['symbols']} symbol choices ({strategies}); decided by {sources}.")
    else:
        lines.append("**Decisions**: no strategy choice was journaled for this session.")
    lines.append(
        _section(
            "Orders",
            facts["orders"],
            lambda o: f"{o['side']} {_num(o['qty'])} {o['symbol']} ({o['strategy']}, {o['status']})",
        )
    )
    lines.append(
        _section(
            "Risk events",
            facts["risk_events"],
            lambda e: f"{e['symbol'] or 'book'}: {e['rule']} {e['action']} ({e['message']})",
        )
    )
    lines.append(
        _section("Fills", facts["fills"], lambda f: f"{f['side']} {_num(f['qty'])} {f['symbol']} @ {_num(f['price'])}")
    )
    if facts["equity"] is None:
        lines.append("**P&L**: no equity was journaled for this session.")
    else:
        pnl = "n/a (first session of the book)" if facts["pnl"] is None else f"{facts['pnl']:+,.2f}"
        lines.append(
            f"**P&L**: {pnl}; equity {facts['equity']:,.2f}, cash {facts['cash']:,.2f}, "
            f"drawdown {facts['drawdown']:.2%}."
        )
    return "\n".join(lines)


def _section(title: str, listed: Mapping[str, Any], render) -> str:
    if not listed["count"]:
        return f"**{title}**: none."
    items = "; ".join(render(row) for row in listed["rows"])
    more = f"; and {listed['count'] - len(listed['rows'])} more" if listed["count"] > len(listed["rows"]) else ""
    return f"**{title}** ({listed['count']}): {items}{more}."


def _decisions(counts: pd.DataFrame) -> dict[pd.Timestamp, dict[str, Any]]:
    if counts.empty:
        return {}
    sessions = pd.to_datetime(counts["session"])
    totals = counts.groupby(sessions)["rows"].sum()
    strategies = counts.groupby([sessions, "strategy"])["rows"].sum()
    sources = counts.groupby([sessions, counts["provider"] + "/" + counts["outcome"]])["rows"].sum()
    out: dict[pd.Timestamp, dict[str, Any]] = {
        pd.Timestamp(s): {"symbols": int(n), "strategies": {}, "sources": {}} for s, n in totals.items()
    }
    for key, series in (("strategies", strategies), ("sources", sources)):
        ordered = series.reset_index(name="rows").sort_values(
            ["session", "rows"], ascending=[True, False], kind="stable"
        )
        for session, name, rows in ordered.itertuples(index=False):
            out[pd.Timestamp(session)][key][str(name)] = int(rows)
    return out


def _listed(frame: pd.DataFrame, columns: list[str]) -> dict[pd.Timestamp, dict[str, Any]]:
    """Per session: how many rows, and the first ``MAX_LISTED`` of them."""
    if frame.empty:
        return {}
    sessions = pd.to_datetime(frame["session"])
    counts = sessions.value_counts()
    shown = frame.assign(session=sessions).groupby("session", sort=False).head(MAX_LISTED)
    kept = [c for c in columns if c in frame.columns]
    out = {pd.Timestamp(s): {"count": int(n), "rows": []} for s, n in counts.items()}
    for session, record in zip(shown["session"], shown[kept].to_dict("records"), strict=True):
        out[pd.Timestamp(session)]["rows"].append({k: _clean(v) for k, v in record.items()})
    return out


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float):
        return _round(value, 4)
    return value.item() if hasattr(value, "item") else value


def _round(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


def _num(value: Any) -> str:
    return "?" if value is None else f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}".rstrip("0").rstrip(".")
