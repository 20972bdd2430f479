"""One backtest: the ``daily_cycle`` job as ONE run over a range of sessions (exactly what a single-run backfill
launches from the UI), on the Dagster instance of DAGSTER_HOME, after every check that can be made before it.

The run replaces its book from fresh capital (``FRESH_BOOK_TAG``) only when it succeeds: until then the book's
previous results stand (``journal.books``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, JobDefinition, execute_job, reconstructable
from pydantic import ValidationError

from trading_pipeline.dagster_internals.events import step_error_text
from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.defs.partitions import FIRST_SESSION
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import holder_gone, journal_url
from trading_pipeline.defs.resources.market_data import load_replay_bars
from trading_pipeline.defs.tags import (
    BACKTEST_NAME_TAG,
    BACKTEST_PARAMETERS_TAG,
    BOOK_TAG,
    FRESH_BOOK_TAG,
    KIND_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
)
from trading_pipeline.domain import calendar
from trading_pipeline.domain.bars import BarsFileError
from trading_pipeline.domain.strategies import REGISTRY
from trading_pipeline.domain.strategies.plugins import build_registry
from trading_pipeline.journal import Journal
from trading_pipeline.journal.books import book_kind, lock_holder, validate_book_name
from trading_pipeline.journal.halts import active_halt


class BacktestError(RuntimeError):
    """The backtest could not run or did not succeed; the message says which step and why, one line per reason."""


@dataclass(frozen=True)
class BacktestResult:
    run_id: str
    out_dir: Path
    metrics: dict


@dataclass(frozen=True)
class Backtest:
    """What to backtest: a range, data, symbols, a book, a strategy pin, user plugins and limit overrides."""

    start: date
    end: date
    symbols: list[str] | None = None
    data: str | None = None
    out: str | None = None
    book: str = "backtest"
    strategy: str | None = None
    plugins: list[str] = field(default_factory=list)
    name: str | None = None
    limits: dict[str, float | int | str | None] = field(default_factory=dict)
    tearsheet: bool = True
    discovery: bool = False
    accepted_moves: list[str] = field(default_factory=list)


def daily_cycle_job() -> JobDefinition:
    """The daily cycle from the project's Definitions, reconstructable for ``execute_job``."""
    from trading_pipeline.definitions import defs

    return defs.resolve_job_def("daily_cycle")


def report_dir(backtest: Backtest, instance: DagsterInstance) -> Path:
    default = Path(instance.root_directory) / "trading_pipeline" / "reports" / backtest.book
    return Path(backtest.out or default).resolve()


def preflight(backtest: Backtest, instance: DagsterInstance, journal: Journal) -> list[str]:
    """Every reason the backtest cannot run, found before anything runs or changes: the range, the book (its
    kind and whether a live run holds it), the data file and what it covers, the symbols, the report folder, the
    plugins and the strategy, and the limits."""
    errors: list[str] = []
    sessions = _sessions(backtest, errors)
    errors += _book_errors(backtest.book, instance, journal)
    errors += _data_errors(backtest, sessions)
    errors += _out_errors(report_dir(backtest, instance))
    errors += _strategy_errors(backtest)
    errors += _limit_errors(backtest.limits)
    return errors


def run_backtest(
    backtest: Backtest, instance: DagsterInstance | None = None, log_level: str = "INFO"
) -> BacktestResult:
    """Backtest the range on a fresh book; raises BacktestError when a check before the run fails, the run
    fails or a blocking check stops it. The name and the parameters tag the run, and performance_report keeps
    them with the results in the journal's backtests."""
    instance = instance or DagsterInstance.get()
    journal = Journal(journal_url(Path(instance.root_directory)))
    journal.create_schema()
    errors = preflight(backtest, instance, journal)
    if errors:
        raise BacktestError("\n".join(errors))
    out_dir = report_dir(backtest, instance)
    run_id = execute(
        daily_cycle_job,
        backtest,
        instance,
        log_level,
        {FRESH_BOOK_TAG: "true"},
        {"performance_report": {"config": {"out_dir": str(out_dir), "tearsheet": backtest.tearsheet}}},
    )
    report_path = out_dir / "metrics.json"
    if not report_path.exists():
        raise BacktestError(
            f"run {run_id} wrote no report: a blocking check stopped it (see its asset checks in the UI)"
        )
    return BacktestResult(run_id=run_id, out_dir=out_dir, metrics=json.loads(report_path.read_text()))


def execute(
    job: Callable[[], JobDefinition],
    backtest: Backtest,
    instance: DagsterInstance,
    log_level: str,
    tags: dict,
    ops: dict,
) -> str:
    """Run ``job`` (a module-level function returning it, for ``reconstructable``) over the backtest's range with its
    book, data, strategy pin, plugins and limits, name and parameters as tags; its run id, or BacktestError with each
    failed step's error."""
    sessions = calendar.sessions(backtest.start, backtest.end)
    parameters = {
        "strategy": backtest.strategy,
        "symbols": backtest.symbols,
        "data": backtest.data,
        "plugins": backtest.plugins,
        **({"discovery": True} if backtest.discovery else {}),
        **({"accepted_moves": backtest.accepted_moves} if backtest.accepted_moves else {}),
        **backtest.limits,
    }
    # execute_job, not execute_in_process: the latter keeps every step's output in memory until the run
    # ends (~0.8 GB of DataFrames on 500 symbols x 5 years); the job still runs in this process.
    with execute_job(
        reconstructable(job),
        instance=instance,
        raise_on_error=False,
        tags={
            RANGE_START_TAG: sessions[0].strftime("%Y-%m-%d"),
            RANGE_END_TAG: sessions[-1].strftime("%Y-%m-%d"),
            BOOK_TAG: backtest.book,
            KIND_TAG: "backtest",
            BACKTEST_NAME_TAG: backtest.name or backtest.book,
            BACKTEST_PARAMETERS_TAG: json.dumps(parameters, sort_keys=True),
            **tags,
        },
        run_config={
            "resources": {
                "market_data": {"config": {"path": backtest.data, "symbols": backtest.symbols}},
                "trading": {"config": {"book": backtest.book, **backtest.limits}},
                "selector": {"config": {"pin": backtest.strategy}},
                "strategies": {"config": {"plugins": backtest.plugins}},
                "discovery": {"config": {"enabled": backtest.discovery}},
                "bar_rules": {"config": {"accepted_moves": backtest.accepted_moves}},
            },
            "ops": ops,
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
    ) as result:
        success, run_id = result.success, result.run_id
    if not success:
        # Only the failures: reading back every event of a 5-year run (one per asset and session) takes ~1 s.
        failed = [e.get_dagster_event() for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)]
        why = "; ".join(f"{e.step_key}: {step_error_text(e.step_failure_data.error)}" for e in failed)
        raise BacktestError(f"run {run_id} failed: {why or 'see the run in the Dagster UI'}")
    return run_id


def _sessions(backtest: Backtest, errors: list[str]) -> list[date]:
    first = date.fromisoformat(FIRST_SESSION)
    if backtest.start < first:
        errors.append(
            f"--start {backtest.start}: the session partitions start at {FIRST_SESSION}; data before it cannot be "
            "backtested"
        )
        return []
    if backtest.start > backtest.end:
        errors.append(f"--start {backtest.start} is after --end {backtest.end}")
        return []
    try:
        sessions = [d.date() for d in calendar.sessions(backtest.start, backtest.end)]
    except ValueError as exc:
        errors.append(f"--start/--end: {exc}")
        return []
    if not sessions:
        errors.append(f"no NYSE session between {backtest.start} and {backtest.end}")
    elif sessions[-1] > date.today():
        errors.append(f"--end {backtest.end}: sessions after today ({date.today()}) have no bars yet")
    return sessions


def _book_errors(book: str, instance: DagsterInstance, journal: Journal) -> list[str]:
    try:
        validate_book_name(book)
    except ValueError as exc:
        return [f"--book: {exc}"]
    kind = book_kind(journal, book)
    if kind not in (None, "simulated"):
        return [f"--book {book!r} is a {kind} trading book: a backtest never replaces it; choose another --book"]
    halt = active_halt(journal, book)
    if halt is not None:
        return [f"--book {book!r} is {halt.describe()}: it takes no new entry; resume it or choose another --book"]
    holder = lock_holder(journal, book)
    if holder is not None and holder_gone(instance, holder) is None:
        return [f"book {book!r} is being written by {holder.describe()}"]
    return []


def _data_errors(backtest: Backtest, sessions: list[date]) -> list[str]:
    path = Path(backtest.data).resolve() if backtest.data else SAMPLE_BARS
    if not path.is_file():
        return [f"--data {backtest.data}: no such file"]
    try:
        bars = load_replay_bars(str(path))
    except (BarsFileError, OSError) as exc:
        return [f"--data: {_first_line(exc)}"]
    errors = []
    known = set(bars["symbol"].unique())
    unknown = sorted(set(backtest.symbols or ()) - known)
    if unknown:
        errors.append(f"--symbols: {', '.join(unknown)} not in {path.name} (it has {len(known)} symbols)")
    first, last = bars["date"].min().date(), bars["date"].max().date()
    if sessions and (sessions[-1] < first or sessions[0] > last):
        errors.append(
            f"--start/--end {sessions[0]}..{sessions[-1]}: {path.name} covers {first}..{last}, no bar in the range"
        )
    return errors


def _out_errors(out_dir: Path) -> list[str]:
    if out_dir.exists() and not out_dir.is_dir():
        return [f"--out {out_dir}: a file is in the way of the report folder"]
    existing = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not _writable(existing):
        return [f"--out {out_dir}: cannot write there ({existing or 'no existing parent'} is not a writable folder)"]
    return []


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def _limit_errors(limits: dict) -> list[str]:
    try:
        TradingBook(**limits).limits()
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc'])) or 'limits'}: {e['msg']}" for e in exc.errors()]
    except ValueError as exc:
        return [f"limits: {_first_line(exc)}"]
    return []


def _strategy_errors(backtest: Backtest) -> list[str]:
    try:
        registry = build_registry(REGISTRY, backtest.plugins, True)
    except ValueError as exc:
        return [f"--plugin: {_first_line(exc)}"]
    if backtest.strategy and backtest.strategy not in registry:
        return [f"--strategy {backtest.strategy}: unknown; known: {', '.join(sorted(registry))}"]
    return []


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
