"""`trading-pipeline halt|resume --book B --operator O --reason R [--flatten]`: a book's kill switch from the shell.

Each runs its job (``halt_trading_job``, ``resume_trading_job``) through Dagster on the instance of DAGSTER_HOME, so
the run shows in the UI with its config, on the project's resources (the broker that trades the book). What can be
checked before the run is: the book's name, the operator and the reason, whether the book is halted, and whether a
live run is writing it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, JobDefinition, execute_job, reconstructable

from trading_pipeline.dagster_internals.events import step_error_text
from trading_pipeline.defs.resources.journal import holder_gone, journal_url
from trading_pipeline.defs.tags import BOOK_TAG
from trading_pipeline.domain.risk.halt import require_signature
from trading_pipeline.journal import Journal
from trading_pipeline.journal.books import lock_holder, run_rows, validate_book_name
from trading_pipeline.journal.halts import active_halt

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # what a run did is the line printed


class SwitchError(RuntimeError):
    """The halt or resume could not run or did not succeed; one line per reason."""


def halt_job() -> JobDefinition:
    from trading_pipeline.definitions import defs

    return defs.resolve_job_def("halt_trading_job")


def resume_job() -> JobDefinition:
    from trading_pipeline.definitions import defs

    return defs.resolve_job_def("resume_trading_job")


def run_halt(book: str, operator: str, reason: str, flatten: bool, instance: DagsterInstance | None = None) -> str:
    """Halt ``book`` through ``halt_trading_job``; what was done, in one line."""
    instance = instance or DagsterInstance.get()
    journal = instance_journal(instance)
    _preflight(instance, journal, book, operator, reason, halting=True)
    config = {"operator": operator, "reason": reason, "flatten": flatten}
    run_id = _switch(halt_job, "halt_trading", config, book, instance)
    halt = active_halt(journal, book)
    events = run_rows(journal, book, run_id, "risk_events")
    orders = run_rows(journal, book, run_id, "orders")
    cancelled = int((events["action"] == "cancelled").sum())
    refused = int((events["action"] == "rejected").sum())
    flattened = f", {len(orders)} sell order(s) placed to flatten it" if flatten else ""
    refusals = f", {refused} order(s) refused by the broker" if refused else ""
    return (
        f"book {book} {halt.describe() if halt else 'halted'}; {cancelled} entry order(s) cancelled"
        f"{flattened}{refusals} (run {run_id})"
    )


def run_resume(book: str, operator: str, reason: str, instance: DagsterInstance | None = None) -> str:
    """Lift ``book``'s halt through ``resume_trading_job``; what was done, in one line."""
    instance = instance or DagsterInstance.get()
    journal = instance_journal(instance)
    _preflight(instance, journal, book, operator, reason, halting=False)
    run_id = _switch(resume_job, "resume_trading", {"operator": operator, "reason": reason}, book, instance)
    return f"book {book} resumed by {operator}: {reason} (run {run_id})"


def instance_journal(instance: DagsterInstance) -> Journal:
    """The journal of ``instance``'s DAGSTER_HOME (or TRADING_JOURNAL_URL), its schema at head."""
    journal = Journal(journal_url(Path(instance.root_directory)))
    journal.create_schema()
    return journal


def _preflight(
    instance: DagsterInstance, journal: Journal, book: str, operator: str, reason: str, halting: bool
) -> None:
    try:
        validate_book_name(book)
    except ValueError as exc:
        raise SwitchError(f"--book: {exc}") from None
    errors = []
    try:
        require_signature(f"{'halting' if halting else 'resuming'} book {book!r}", operator, reason)
    except ValueError as exc:
        errors.append(str(exc))
    halt = active_halt(journal, book)
    if halting and halt is not None:
        errors.append(f"book {book!r} is already {halt.describe()}; resume it first")
    if not halting and halt is None:
        errors.append(f"book {book!r} is not halted: nothing to resume")
    holder = lock_holder(journal, book)
    if holder is not None and holder_gone(instance, holder) is None:
        errors.append(f"book {book!r} is being written by {holder.describe()}; try again when it ends")
    if errors:
        raise SwitchError("\n".join(errors))


def execute(
    job: Callable[[], JobDefinition],
    tags: dict[str, str],
    run_config: dict,
    instance: DagsterInstance,
    error: type[SwitchError] = SwitchError,
) -> str:
    """Run ``job`` on ``instance`` (quietly: the caller prints what it did); its run id, or ``error`` naming why
    each failed step failed."""
    with execute_job(
        reconstructable(job), instance=instance, raise_on_error=False, tags=tags, run_config={**run_config, **QUIET}
    ) as result:
        success, run_id = result.success, result.run_id
    if not success:
        raise error(run_failure(instance, run_id))
    return run_id


def run_failure(instance: DagsterInstance, run_id: str) -> str:
    """Why a run failed, from its step failures, in one line."""
    failed = [e.get_dagster_event() for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)]
    why = "; ".join(step_error_text(e.step_failure_data.error) for e in failed)
    return f"run {run_id} failed: {why or 'see the run in the Dagster UI'}"


def _switch(job: Callable[[], JobDefinition], op: str, config: dict, book: str, instance: DagsterInstance) -> str:
    run_config = {"ops": {op: {"config": config}}, "resources": {"trading": {"config": {"book": book}}}}
    return execute(job, {BOOK_TAG: book}, run_config, instance)
