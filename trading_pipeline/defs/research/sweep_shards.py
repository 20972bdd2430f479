"""A sweep past one machine: its points as separate runs, launched through the run coordinator.

The sweep job with ``shards: N`` makes the decisions once and writes the plan (``shard_files.py``). The
``sweep_shards_sensor`` then requests N runs of ``sweep_shard``, each running every Nth point of the grid; the
instance's run coordinator queues them and its run launcher starts them: processes of the code server here, pods
under Kubernetes (K8sRunLauncher), containers under Docker, with no code of ours in between. When every shard has
succeeded, the sensor requests ``sweep_merge``, which keeps the results as a one-run sweep keeps them and observes
them on ``sweep_results``; once the merge has succeeded, the sensor removes the sweep's folder. Run keys make every
request once, however often the sensor ticks.
"""

import socket
from pathlib import Path

from dagster import (
    AssetObservation,
    Config,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    in_process_executor,
    job,
    op,
    sensor,
)
from pydantic import Field

from trading_pipeline.defs.reporting.performance_report import code_version
from trading_pipeline.defs.research.shard_files import (
    SWEEP_MERGE,
    SWEEP_SHARD,
    planned_sweeps,
    read_decisions,
    read_plan,
    read_shards,
    remove_sweep_folder,
    shard_folder,
    worker_of,
    write_shard,
    write_worker,
)
from trading_pipeline.defs.research.sweep_results import SWEEP, keep_sweep
from trading_pipeline.defs.resources.journal import JournalResource, process_alive
from trading_pipeline.defs.tags import SWEEP_ID_TAG, SWEEP_PART_TAG
from trading_pipeline.domain.research import sweep

SUCCESS = DagsterRunStatus.SUCCESS


class ShardConfig(Config):
    sweep_id: str = Field(description="The run id of the sweep run that made the decisions and the plan.")
    shard: int = Field(ge=0, description="Which shard: it runs points shard, shard + N, shard + 2N, ...")


class MergeConfig(Config):
    sweep_id: str = Field(description="The run id of the sweep run that made the decisions and the plan.")


@op(description="Every Nth point of a sharded sweep's grid, as books on the plan's decisions.")
def run_sweep_shard(context: OpExecutionContext, config: ShardConfig) -> None:
    folder = _sweep_folder(context, config.sweep_id)
    write_worker(folder, config.shard, context.run_id)
    plan = read_plan(folder, code_version())
    indexes = plan.indexes(config.shard)
    decisions = read_decisions(folder)
    tasks = [sweep.Task(plan.points[i]) for i in indexes]
    results = sweep.run_tasks(decisions.__getitem__, tasks, plan.book, plan.workers) if tasks else []
    write_shard(folder, config.shard, dict(zip(indexes, results, strict=True)))
    context.log.info(f"shard {config.shard} of {plan.shards}: points {indexes}")


@op(description="A sharded sweep's results kept as a one-run sweep keeps them, and observed on sweep_results.")
def merge_sweep_shards(context: OpExecutionContext, config: MergeConfig, journal: JournalResource) -> None:
    folder = _sweep_folder(context, config.sweep_id)
    plan = read_plan(folder, code_version())
    whole = read_shards(folder, plan)
    metadata = keep_sweep(
        journal.journal, plan.sweep_id, plan.book, plan.name, plan.grid, whole, None, Path(plan.out_dir)
    )
    last = plan.sessions[-1].isoformat()
    context.log_event(
        AssetObservation(asset_key="sweep_results", partition=last, metadata={**metadata, "sweep_id": plan.sweep_id})
    )


def _sweep_folder(context: OpExecutionContext, sweep_id: str) -> Path:
    """The folder of a succeeded sweep run's plan: a launch cannot point a shard or a merge anywhere else."""
    folder = shard_folder(Path(context.instance.root_directory), sweep_id)
    if not _succeeded_sweep(context.instance, sweep_id):
        raise ValueError(f"sweep_id {sweep_id} names no succeeded run of the {SWEEP} job")
    return folder


def _succeeded_sweep(instance: DagsterInstance, sweep_id: str) -> bool:
    run = instance.get_run_by_id(sweep_id)
    return run is not None and run.job_name == SWEEP and run.status == SUCCESS


@job(
    name=SWEEP_SHARD,
    executor_def=in_process_executor,
    description="One shard of a sharded sweep (launched by sweep_shards_sensor).",
)
def sweep_shard_job():
    run_sweep_shard()


@job(
    name=SWEEP_MERGE,
    executor_def=in_process_executor,
    description="A sharded sweep's results, once every shard succeeded.",
)
def sweep_merge_job():
    merge_sweep_shards()


@sensor(
    name="sweep_shards_sensor",
    jobs=[sweep_shard_job, sweep_merge_job],
    minimum_interval_seconds=5,
    default_status=DefaultSensorStatus.RUNNING,
    description="A sharded sweep's shard runs once its decisions are made, then its merge once every shard succeeded.",
)
def sweep_shards_sensor(context: SensorEvaluationContext) -> SensorResult:
    requests, waiting = [], []
    # Every plan left under DAGSTER_HOME, however many sweeps ran since; a merged sweep's folder is removed.
    for folder, plan in planned_sweeps(Path(context.instance.root_directory)):
        sweep_id, shards = folder.name, plan["shards"]
        if not _succeeded_sweep(context.instance, sweep_id):
            continue  # its sweep run has not succeeded (yet): no shard runs on a plan it may not have finished
        parts: dict[str, list[DagsterRun]] = {}
        for part in context.instance.get_runs(RunsFilter(tags={SWEEP_ID_TAG: sweep_id})):
            parts.setdefault(part.tags.get(SWEEP_PART_TAG, ""), []).append(part)  # re-executions share the tag
        if "merge" in parts:
            merges = parts["merge"]
            if any(r.status == SUCCESS for r in merges):
                remove_sweep_folder(folder)
                context.log.info(f"sweep {sweep_id} is merged: removed its folder {folder}")
            elif all(r.is_finished for r in merges):
                waiting.append(f"{sweep_id}: the merge failed: re-execute it in the UI")
            continue
        _fail_dead_shards(context, folder, parts, shards)
        succeeded = {k for k in range(shards) if any(r.status == SUCCESS for r in parts.get(_part(k), []))}
        if len(succeeded) == shards:
            requests.append(
                RunRequest(
                    run_key=f"{sweep_id}:merge", job_name=SWEEP_MERGE,
                    run_config={"ops": {"merge_sweep_shards": {"config": {"sweep_id": sweep_id}}}},
                    tags={SWEEP_ID_TAG: sweep_id, SWEEP_PART_TAG: "merge"},
                )
            )  # fmt: skip
            continue
        for k in range(shards):
            if _part(k) not in parts:
                requests.append(
                    RunRequest(
                        run_key=f"{sweep_id}:shard:{k}", job_name=SWEEP_SHARD,
                        run_config={"ops": {"run_sweep_shard": {"config": {"sweep_id": sweep_id, "shard": k}}}},
                        tags={SWEEP_ID_TAG: sweep_id, SWEEP_PART_TAG: _part(k)},
                    )
                )  # fmt: skip
        failed = [
            k
            for k in range(shards)
            if k not in succeeded and parts.get(_part(k)) and all(r.is_finished for r in parts[_part(k)])
        ]
        note = f"; shard(s) {failed} failed: re-execute them in the UI" if failed else ""
        waiting.append(f"{sweep_id}: {len(succeeded)}/{shards} shards done{note}")
    return SensorResult(
        run_requests=requests,
        skip_reason=None if requests else ("; ".join(waiting) or "no sharded sweep waiting"),
    )


def _part(shard: int) -> str:
    """The ``SWEEP_PART_TAG`` of a shard's runs (the merge's is "merge")."""
    return f"shard {shard}"


def _fail_dead_shards(
    context: SensorEvaluationContext, folder: Path, parts: dict[str, list[DagsterRun]], shards: int
) -> None:
    """A shard run still marked started whose process on this host is gone (kill -9, out of memory) is marked
    failed, so that the sweep says so and the shard can be re-executed; other hosts' runs are their launcher's."""
    here = socket.gethostname()
    for shard in range(shards):
        worker = worker_of(folder, shard)
        if worker is None or worker["host"] != here:
            continue
        for run in parts.get(_part(shard), []):
            if run.is_finished or worker["run_id"] != run.run_id:
                continue
            # Read again after the process check: a shard that just succeeded has exited too.
            if not process_alive(worker["pid"]) and not context.instance.get_run_by_id(run.run_id).is_finished:
                message = f"its process {worker['pid']} on {here} is gone"
                context.instance.report_run_failed(run, message)
                context.log.warning(
                    f"{_part(shard)} of sweep {run.tags.get(SWEEP_ID_TAG)} (run {run.run_id}): {message}"
                )
