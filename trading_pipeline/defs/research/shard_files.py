"""What the runs of a sharded sweep hand each other, in a folder of the instance (the run launcher's workers of a
deployment share DAGSTER_HOME's volume): the plan and the decisions, written by the run that made them, each shard's
results, and which process runs each shard.

The files are pickles of this code's objects, read only by runs of the same code version (checked): a plan written
by another version is refused, never half-read.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from trading_pipeline.domain.research import sweep

SWEEP_SHARD = "sweep_shard"
SWEEP_MERGE = "sweep_merge"
PLAN = "plan.json"


@dataclass(frozen=True)
class ShardPlan:
    """A sweep whose ``points`` run as ``shards`` separate runs; shard k runs points k, k + shards, k + 2 shards…"""

    sweep_id: str
    name: str
    book: str
    sessions: tuple[date, ...]
    grid: dict[str, list]
    points: tuple[sweep.BookPoint, ...]
    shards: int
    workers: int | None
    code_version: str
    out_dir: str

    def indexes(self, shard: int) -> list[int]:
        if not 0 <= shard < self.shards:
            raise ValueError(f"shard {shard} of a sweep of {self.shards} shards (0..{self.shards - 1})")
        return list(range(shard, len(self.points), self.shards))


def shard_folder(home: Path, sweep_id: str) -> Path:
    """The sweep's folder under DAGSTER_HOME; ``sweep_id`` must be a run id (a UUID), never a path."""
    try:
        canonical = str(uuid.UUID(sweep_id)) == sweep_id
    except ValueError:
        canonical = False
    if not canonical:
        raise ValueError(f"sweep_id must be the run id of a sweep run (a UUID), got {sweep_id!r}")
    return home / "trading_pipeline" / "sweeps" / sweep_id


def planned_sweeps(home: Path) -> list[tuple[Path, dict]]:
    """Each folder under DAGSTER_HOME holding a complete plan, with plan.json's summary, oldest first (a merged
    sweep's folder is removed)."""
    root = home / "trading_pipeline" / "sweeps"
    folders = [folder for folder in root.iterdir() if (folder / PLAN).exists()] if root.exists() else []
    folders.sort(key=lambda folder: ((folder / PLAN).stat().st_mtime, folder.name))
    return [(folder, plan) for folder in folders if (plan := planned(folder)) is not None]


def remove_sweep_folder(folder: Path) -> None:
    """A merged sweep's files (the decisions' pickle is the largest): its results are in the journal and sweep.json.
    plan.json goes first, so that a removal cut short leaves no folder that looks like a plan."""
    (folder / PLAN).unlink(missing_ok=True)
    shutil.rmtree(folder)


def write_plan(folder: Path, plan: ShardPlan, decisions: dict[str | None, sweep.Decisions]) -> None:
    """The decisions, then the plan (its summary in plan.json last: a folder with plan.json is complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_whole(folder / "decisions.pkl", pickle.dumps(decisions, protocol=pickle.HIGHEST_PROTOCOL))
    _write_whole(folder / "plan.pkl", pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
    summary = {"sweep_id": plan.sweep_id, "shards": plan.shards, "points": len(plan.points), "name": plan.name}
    _write_whole(folder / PLAN, json.dumps(summary).encode())


def planned(folder: Path) -> dict | None:
    """plan.json's summary (shards, points), None when the folder holds no complete plan."""
    path = folder / PLAN
    return json.loads(path.read_text()) if path.exists() else None


def read_plan(folder: Path, code_version: str) -> ShardPlan:
    if planned(folder) is None:
        raise FileNotFoundError(f"no sweep plan in {folder}: the sweep run that makes it has not succeeded")
    plan = pickle.loads((folder / "plan.pkl").read_bytes())
    if plan.code_version != code_version:
        raise ValueError(
            f"the sweep plan in {folder} was written by code {plan.code_version}, this run is {code_version}: "
            "run the sweep again with one code version"
        )
    return plan


def read_decisions(folder: Path) -> dict[str | None, sweep.Decisions]:
    return pickle.loads((folder / "decisions.pkl").read_bytes())


def write_shard(folder: Path, shard: int, results: dict[int, sweep.PointResult]) -> None:
    _write_whole(folder / f"shard-{shard}.pkl", pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL))


def _write_whole(path: Path, data: bytes) -> None:
    """A reader (the sensor, a shard) sees the old file or the new one, never half of one; two writers (a shard and its
    re-execution) each write their own partial file."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def read_shards(folder: Path, plan: ShardPlan) -> list[sweep.PointResult]:
    """Every point's result in the grid's order; a missing shard or point is an error naming it."""
    results: dict[int, sweep.PointResult] = {}
    for shard in range(plan.shards):
        path = folder / f"shard-{shard}.pkl"
        if not path.exists():
            raise FileNotFoundError(f"shard {shard} of sweep {plan.sweep_id} has no results ({path})")
        results.update(pickle.loads(path.read_bytes()))
    missing = sorted(set(range(len(plan.points))) - set(results))
    if missing:
        raise ValueError(f"sweep {plan.sweep_id}: no result for point(s) {missing}")
    return [results[i] for i in range(len(plan.points))]


def write_worker(folder: Path, shard: int, run_id: str) -> None:
    """Which process runs ``shard`` (the default run launcher cannot tell a run whose process died from a slow one)."""
    record = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname()}
    _write_whole(folder / f"shard-{shard}.worker.json", json.dumps(record).encode())


def worker_of(folder: Path, shard: int) -> dict | None:
    path = folder / f"shard-{shard}.worker.json"
    return json.loads(path.read_text()) if path.exists() else None
