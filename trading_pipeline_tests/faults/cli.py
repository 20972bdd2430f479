"""The CLI as a user runs it, in processes of its own that a fault test can stop inside a step or kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trading_pipeline.defs.resources.journal import default_journal_url
from trading_pipeline.journal import Journal

HOOK = Path(__file__).parent / "hook"
# The tables a book's results are made of, and the columns that say which run wrote a row (not what it says).
RESULT_TABLES = ("orders", "fills", "positions", "equity", "risk_events", "book_states", "audit_reports")
RUN_COLUMNS = ["run_id", "created_at"]


@dataclass
class Cli:
    """``trading-pipeline`` on one DAGSTER_HOME."""

    home: Path

    def env(self, fault_at: str | None = None, marker: Path | None = None) -> dict[str, str]:
        env = {**os.environ, "DAGSTER_HOME": str(self.home)}
        if fault_at:
            env |= {"TP_FAULT_AT": fault_at, "TP_FAULT_MARKER": str(marker), "PYTHONPATH": str(HOOK)}
        return env

    def run(self, *args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "trading_pipeline.cli", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )

    def start_paused(self, fault_at: str, *args: str, timeout: float = 300) -> Paused:
        """Start the command and wait until it stops at ``fault_at`` (see hook/sitecustomize.py)."""
        marker = self.home / f"paused-{fault_at}.pid"
        marker.unlink(missing_ok=True)
        marker.with_suffix(".go").unlink(missing_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "trading_pipeline.cli", *args],
            env=self.env(fault_at, marker),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if process.poll() is not None:
                raise AssertionError(f"the command ended before {fault_at}: {process.communicate()[1][-2000:]}")
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"the command did not reach {fault_at} in {timeout} s")
            time.sleep(0.05)
        return Paused(process, marker)

    def journal(self) -> Journal:
        return Journal(default_journal_url(self.home))

    def book(self, book: str) -> dict[str, pd.DataFrame]:
        """A book's committed results, without the columns that name the run that wrote them."""
        journal = self.journal()
        return {
            table: journal.read(table, book=book).drop(columns=RUN_COLUMNS, errors="ignore").reset_index(drop=True)
            for table in RESULT_TABLES
        }


@dataclass
class Paused:
    process: subprocess.Popen
    marker: Path

    def go_on(self, timeout: float = 300) -> tuple[int, str, str]:
        self.marker.with_suffix(".go").write_text("go")
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err

    def kill(self) -> None:
        """kill -9, and reap it (an unreaped child would still look alive to the next run's lock check)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def assert_same_book(actual: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    for table in RESULT_TABLES:
        pd.testing.assert_frame_equal(actual[table], expected[table], obj=table)
