"""Loaded by the interpreters the fault tests start (their PYTHONPATH holds this folder): with TP_FAULT_AT set, the
run stops at that point of its journal writes, writes TP_FAULT_MARKER (its pid) and waits until a file named like
the marker with a ``.go`` suffix appears, so a test can kill -9 it there, or let it go on.

Points: ``market_bars``, ``sizing`` and ``check`` (their risk events written), ``signals`` (strategy choices written),
``execution`` (inside the execution step's transaction, after its orders), ``audit`` (audit reports written) and
``commit`` (inside the commit's transaction, after the book's rows were moved).
"""

import os
import time
from pathlib import Path

POINT = os.environ.get("TP_FAULT_AT")


def _pause() -> None:
    marker = Path(os.environ["TP_FAULT_MARKER"])
    marker.write_text(str(os.getpid()))
    go = marker.with_suffix(".go")
    while not go.exists():
        time.sleep(0.05)


def _install() -> None:
    from trading_pipeline.journal import store
    from trading_pipeline.journal.books import BookJournal

    replace, record = BookJournal.replace, store.Journal.record_backtest

    def paused_replace(self, table, sessions, rows, source=None):
        written = replace(self, table, sessions, rows, source)
        kinds = {"strategy_choices": "signals", "orders": "execution", "audit_reports": "audit"}
        point = kinds.get(table) or (source or "").split(":")[0]
        if point == POINT:
            _pause()
        return written

    def paused_record(self, *args, **kwargs):
        record(self, *args, **kwargs)
        if POINT == "commit":
            _pause()

    BookJournal.replace = paused_replace
    store.Journal.record_backtest = paused_record


if POINT:
    _install()
