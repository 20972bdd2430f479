"""`trading-pipeline check-journal --book NAME`: the book's committed journal against its invariants.

The same checker the tests use (``domain.invariants``): the fills, replayed from the book's initial capital, must
give its positions, cash and equity; every fill must belong to an order and agree with its status, lie inside its
session's bar and respect its limit.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.defs.resources.journal import journal_url
from trading_pipeline.defs.resources.market_data import load_replay_bars
from trading_pipeline.domain.invariants import check_journal
from trading_pipeline.journal import Journal
from trading_pipeline.journal.books import book_capital

MAX_PRINTED = 50


def print_journal_check(dagster_home: Path, book: str, data: str | None) -> int:
    """Print the violations (or what was checked); 1 if there is any, so scripts can gate on it."""
    journal = Journal(journal_url(dagster_home))
    journal.create_schema()
    capital = book_capital(journal, book)
    if capital is None:
        raise ValueError(f"book {book!r} has never committed a run in {journal.url}: nothing to check")
    tables = {name: journal.read(name, book=book) for name in ("orders", "fills", "positions", "equity")}
    bars = load_replay_bars(str(Path(data).resolve()) if data else str(SAMPLE_BARS))
    fills = tables["fills"]
    traded = bars[bars["symbol"].isin(set(fills["symbol"])) & bars["date"].isin(set(fills["session"]))]
    violations = check_journal(*tables.values(), traded[["date", "symbol", "low", "high"]], capital)
    sessions = tables["equity"]["session"]
    span = f"{sessions.min():%Y-%m-%d}..{sessions.max():%Y-%m-%d}" if len(sessions) else "no session"
    print(
        f"book {book}: {len(tables['orders'])} orders, {len(fills)} fills, {len(sessions)} sessions ({span}), "
        f"initial capital {capital:,.2f}"
    )
    if violations.empty:
        print("every invariant holds")
        return 0
    print(f"{len(violations)} violation(s):")
    with pd.option_context("display.width", 200, "display.max_colwidth", 120):
        print(violations.head(MAX_PRINTED).to_string(index=False))
    return 1
