"""A sweep past one machine: its shards are separate runs that the daemon's sweep_shards_sensor requests and the
instance's queued run coordinator and default run launcher start (processes of the code server), two at once; the
merged results are the one-run sweep's, to the bit."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from trading_pipeline.cli import main
from trading_pipeline.defs.tags import SWEEP_ID_TAG, SWEEP_PART_TAG
from trading_pipeline.instance import write_instance_config

REPO = Path(__file__).resolve().parents[2]
GRID = ["--grid", "risk_per_trade=0.01,0.02", "--grid", "atr_stop_multiple=1.5,3"]
COMMON = ["--start", "2011-03-01", "--end", "2011-12-30", "--workers", "1", "--book", "shards", "--json"]


@pytest.fixture
def daemon(tmp_path, monkeypatch):
    """The project's instance (queued run coordinator, default run launcher) with its daemon running."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    write_instance_config(home, postgres=False)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: trading_pipeline.definitions\n"
        f"      location_name: trading_pipeline\n      working_directory: {REPO}\n"
    )
    log = (tmp_path / "daemon.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(workspace)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield home
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _sweep(capsys, *extra: str) -> dict:
    capsys.readouterr()
    assert main(["sweep", *GRID, *COMMON, *extra]) == 0
    return json.loads(capsys.readouterr().out.splitlines()[-1])


def _files(summary: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = Path(summary["out_dir"])
    return pd.read_parquet(out / "fills.parquet"), pd.read_parquet(out / "equity.parquet")


def _time(instance, run, kind) -> float:
    (record,) = instance.get_records_for_run(run.run_id, of_type=kind).records
    return record.event_log_entry.timestamp


def _pid(instance, run) -> int:
    return next(e.dagster_event.pid for e in instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_START))


def test_two_shards_run_at_once_as_launched_runs_and_merge_into_the_one_run_sweep(daemon, capsys):
    one = _sweep(capsys, "--name", "one run")
    one_fills, one_equity = _files(one)

    sharded = _sweep(capsys, "--name", "sharded", "--shards", "2")

    instance = DagsterInstance.get()
    parts = {r.tags[SWEEP_PART_TAG]: r for r in instance.get_runs(RunsFilter(tags={SWEEP_ID_TAG: sharded["run_id"]}))}
    assert sorted(parts) == ["merge", "shard 0", "shard 1"]
    assert all(r.status == DagsterRunStatus.SUCCESS for r in parts.values())
    assert {parts["shard 0"].job_name, parts["merge"].job_name} == {"sweep_shard", "sweep_merge"}
    for run in parts.values():  # queued by the run coordinator, started by the run launcher, not in this process
        events = {e.event_log_entry.dagster_event_type for e in instance.get_records_for_run(run.run_id).records}
        assert {DagsterEventType.RUN_ENQUEUED, DagsterEventType.RUN_STARTING} <= events
        assert run.tags.get("dagster/sensor_name") == "sweep_shards_sensor"
    # The coordinator launched both shards before either finished, each in a process of its own.
    launched = [_time(instance, parts[f"shard {k}"], DagsterEventType.RUN_STARTING) for k in range(2)]
    finished = [_time(instance, parts[f"shard {k}"], DagsterEventType.RUN_SUCCESS) for k in range(2)]
    assert max(launched) < min(finished)
    pids = {_pid(instance, parts[f"shard {k}"]) for k in range(2)}
    assert len(pids) == 2 and os.getpid() not in pids
    # Each ran its half of the grid (points 0, 2 and 1, 3).
    logs = {k: [e.message for e in instance.all_logs(parts[f"shard {k}"].run_id)] for k in range(2)}
    assert any("points [0, 2]" in m for m in logs[0]) and any("points [1, 3]" in m for m in logs[1])

    # The merged sweep is the one-run sweep: the same figures, statistics, fills and equity, to the bit.
    assert sharded["points"] == one["points"] and sharded["overfitting"] == one["overfitting"]
    fills, equity = _files(sharded)
    assert len(one_fills) > 0
    pd.testing.assert_frame_equal(fills, one_fills, check_exact=True)
    assert equity.to_numpy().tobytes() == one_equity.to_numpy().tobytes() and equity.index.equals(one_equity.index)

    # Kept once per point under the sweep's run, as a one-run sweep keeps them.
    capsys.readouterr()
    assert main(["backtests", "--json"]) == 0
    kept = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    mine = [k for k in kept if k["run_id"] == sharded["run_id"]]
    assert [k["name"] for k in mine] == ["sharded"] * 4
    assert [k["metrics"]["sharpe"] for k in mine] == [p["sharpe"] for p in one["points"]]
    merged = instance.get_runs(RunsFilter(run_ids=[parts["merge"].run_id]))[0]
    observed = [
        e
        for e in instance.all_logs(merged.run_id, of_type=DagsterEventType.ASSET_OBSERVATION)
        if e.dagster_event.asset_key.to_user_string() == "sweep_results"
    ]
    assert (
        len(observed) == 1
        and "| # | risk_per_trade |"
        in observed[0].dagster_event.event_specific_data.asset_observation.metadata["results"].value
    )
    # Once merged, the sensor's next tick removes the sweep's folder (its decisions' pickle is the largest file).
    folder = daemon / "trading_pipeline" / "sweeps" / sharded["run_id"]
    deadline = time.monotonic() + 60
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(1)
    assert not folder.exists()


def test_a_sharded_sweep_without_a_daemon_says_what_is_missing_and_keeps_its_decisions(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    from trading_pipeline.cli import sweep as sweep_cli

    monkeypatch.setattr(sweep_cli, "SHARD_WAIT_S", 3.0)
    assert main(["sweep", *GRID, *COMMON, "--shards", "2"]) == 1
    err = capsys.readouterr().err
    assert "no shard run launched" in err and "dagster-daemon run" in err
    plans = list((home / "trading_pipeline" / "sweeps").glob("*/plan.json"))
    assert len(plans) == 1 and json.loads(plans[0].read_text())["shards"] == 2
