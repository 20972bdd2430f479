"""A backfill launched the way the UI launches it (GraphQL, daemon) runs the whole graph as ONE run."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from trading_pipeline.definitions import ASSETS
from trading_pipeline.instance_storage import RUN_ENVIRONMENT, write_instance_config

REPO = Path(__file__).resolve().parents[1]
START, END = "2012-06-01", "2012-06-15"
LAUNCH = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
  runsOrError { ... on Runs { results { status tags { key value } assetSelection { path } } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict) -> dict:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def _wait(predicate, timeout_s: float, what: str, log: Path):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}; dagster dev said:\n{log.read_text()[-3000:]}")


@pytest.fixture
def dagster_dev(tmp_path):
    home = tmp_path / "home"
    write_instance_config(home)
    port = _free_port()
    env = {**os.environ, **RUN_ENVIRONMENT, "DAGSTER_HOME": str(home)}
    log_path = tmp_path / "dagster_dev.log"
    log = log_path.open("wb")
    # Background processes here may start with SIGINT ignored: restore it so the server can be stopped.
    process = subprocess.Popen(
        ["setsid", "env", "--default-signal=INT,TERM", sys.executable, "-m", "dagster", "dev",
         "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def up():
        if process.poll() is not None:
            pytest.fail("dagster dev exited:\n" + log_path.read_text()[-3000:])
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5).status == 200
        except OSError:
            return False

    try:
        # Generous bounds: on a loaded 2-core machine start-up alone has taken over a minute.
        _wait(up, 240, "dagster dev to answer", log_path)
        yield port, log_path
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def test_a_ui_backfill_of_every_asset_is_one_successful_run(dagster_dev):
    port, log_path = dagster_dev
    keys = [key for a in ASSETS for key in a.keys]
    params = {
        "partitionsByAssets": [
            {"assetKey": {"path": key.path}, "partitions": {"range": {"start": START, "end": END}}} for key in keys
        ]
    }
    launched = _graphql(port, LAUNCH, {"p": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    def finished():
        data = _graphql(port, STATUS, {"id": launched["backfillId"]})
        status = data["partitionBackfillOrError"]["status"]
        return data if status not in ("REQUESTED", "IN_PROGRESS") else None

    data = _wait(finished, 600, "the backfill to finish", log_path)
    assert data["partitionBackfillOrError"]["status"] == "COMPLETED_SUCCESS", log_path.read_text()[-3000:]
    runs = data["runsOrError"]["results"]
    assert len(runs) == 1
    run = runs[0]
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert run["status"] == "SUCCESS"
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (START, END)
    assert {p["path"][0] for p in run["assetSelection"]} == {key.path[0] for key in keys}
