"""sweep_shards_sensor on a real instance: the shard runs it requests once, and a shard whose process died (kill -9)
marked failed instead of left started for ever (the default run launcher cannot see its workers), every plan seen
however many sweeps ran since, and a merged sweep's folder removed."""

import json
import os
import socket
import subprocess
from pathlib import Path

from dagster import DagsterRun, DagsterRunStatus, build_sensor_context

from trading_pipeline.defs.research.shard_files import PLAN, shard_folder
from trading_pipeline.defs.research.sweep_shards import sweep_shards_sensor
from trading_pipeline.defs.tags import SWEEP_ID_TAG, SWEEP_PART_TAG

SWEEP_ID = "5f0c9a1e-0000-4000-8000-000000000001"
SUCCESS = DagsterRunStatus.SUCCESS


def _sweep(instance, shards: int) -> Path:
    """A succeeded sweep run that wrote a plan of ``shards`` shards."""
    instance.add_run(DagsterRun(job_name="sweep", run_id=SWEEP_ID, status=DagsterRunStatus.SUCCESS))
    folder = shard_folder(Path(instance.root_directory), SWEEP_ID)
    folder.mkdir(parents=True)
    (folder / PLAN).write_text(json.dumps({"sweep_id": SWEEP_ID, "shards": shards, "points": 4, "name": "t"}))
    return folder


def _shard_run(instance, shard: int, run_id: str) -> DagsterRun:
    tags = {SWEEP_ID_TAG: SWEEP_ID, SWEEP_PART_TAG: f"shard {shard}"}
    return instance.add_run(
        DagsterRun(job_name="sweep_shard", run_id=run_id, status=DagsterRunStatus.STARTED, tags=tags)
    )


def _worker(folder: Path, shard: int, run_id: str, pid: int) -> None:
    record = {"run_id": run_id, "pid": pid, "host": socket.gethostname()}
    (folder / f"shard-{shard}.worker.json").write_text(json.dumps(record))


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_the_shards_are_requested_once_each_with_their_config(instance):
    _sweep(instance, shards=3)
    result = sweep_shards_sensor(build_sensor_context(instance=instance))
    assert [r.run_key for r in result.run_requests] == [f"{SWEEP_ID}:shard:{k}" for k in range(3)]
    assert [r.run_config["ops"]["run_sweep_shard"]["config"]["shard"] for r in result.run_requests] == [0, 1, 2]
    assert {r.job_name for r in result.run_requests} == {"sweep_shard"}


def test_a_shard_whose_process_died_is_marked_failed_and_a_live_one_is_left_alone(instance):
    folder = _sweep(instance, shards=2)
    dead = _shard_run(instance, 0, "a0000000-0000-4000-8000-000000000000")
    alive = _shard_run(instance, 1, "a1111111-1111-4111-8111-111111111111")
    _worker(folder, 0, dead.run_id, _dead_pid())
    _worker(folder, 1, alive.run_id, os.getpid())

    result = sweep_shards_sensor(build_sensor_context(instance=instance))
    assert result.run_requests == []  # both shards have runs: nothing to request, no merge yet
    assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(alive.run_id).status == DagsterRunStatus.STARTED
    again = sweep_shards_sensor(build_sensor_context(instance=instance))
    assert "0/2 shards done; shard(s) [0] failed: re-execute them in the UI" in again.skip_reason.skip_message


def test_a_sharded_sweep_behind_many_later_sweeps_still_gets_its_shards(instance):
    _sweep(instance, shards=2)
    for k in range(30):  # later one-run sweeps: no plan of theirs
        instance.add_run(DagsterRun(job_name="sweep", run_id=f"b{k:07d}-0000-4000-8000-000000000000", status=SUCCESS))
    result = sweep_shards_sensor(build_sensor_context(instance=instance))
    assert [r.run_key for r in result.run_requests] == [f"{SWEEP_ID}:shard:{k}" for k in range(2)]


def test_a_plan_whose_sweep_run_has_not_succeeded_gets_no_shard(instance):
    folder = _sweep(instance, shards=2)
    instance.delete_run(SWEEP_ID)
    instance.add_run(DagsterRun(job_name="sweep", run_id=SWEEP_ID, status=DagsterRunStatus.STARTED))
    result = sweep_shards_sensor(build_sensor_context(instance=instance))
    assert result.run_requests == [] and folder.exists()


def _merge_run(instance, run_id: str, status: DagsterRunStatus) -> None:
    tags = {SWEEP_ID_TAG: SWEEP_ID, SWEEP_PART_TAG: "merge"}
    instance.add_run(DagsterRun(job_name="sweep_merge", run_id=run_id, status=status, tags=tags))


def test_a_failed_merge_is_reported_and_a_merged_sweeps_folder_removed(instance):
    folder = _sweep(instance, shards=1)
    (folder / "decisions.pkl").write_bytes(b"\0" * 1024)
    _merge_run(instance, "c0000000-0000-4000-8000-000000000000", DagsterRunStatus.FAILURE)
    failed = sweep_shards_sensor(build_sensor_context(instance=instance))
    assert failed.run_requests == [] and folder.exists()
    assert f"{SWEEP_ID}: the merge failed: re-execute it in the UI" in failed.skip_reason.skip_message

    _merge_run(instance, "c1111111-1111-4111-8111-111111111111", SUCCESS)  # the re-execution succeeded
    merged = sweep_shards_sensor(build_sensor_context(instance=instance))
    assert merged.run_requests == [] and not folder.exists()
    assert folder.parent.exists()  # only the sweep's own folder goes
