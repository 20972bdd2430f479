"""Helpers for tests that drive real Dagster processes (dagster dev, code server, webserver, daemon) over HTTP."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from trading_pipeline.instance import RUN_ENVIRONMENT, write_instance_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def dagster_dev(tmp_path) -> Iterator[tuple[int, Path]]:
    """`dagster dev` of the project's workspace on a free 127.0.0.1 port with a fresh DAGSTER_HOME; yields
    (port, log path) once the webserver answers. Import it into a test module to use it."""
    home = tmp_path / "home"
    write_instance_config(home)  # nux off: the UI's first-visit sign-up dialog would cover the page
    port = free_port()
    env = {**os.environ, **RUN_ENVIRONMENT, "DAGSTER_HOME": str(home)}
    log_path = tmp_path / "dagster_dev.log"
    command = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with background(command, log_path, env, REPO) as process:

        def up():
            if process.poll() is not None:
                pytest.fail("dagster dev exited:\n" + tail([log_path]))
            return server_answers(port)

        # Generous bounds: on a loaded 2-core machine start-up alone has taken over a minute.
        wait_for(up, 240, "dagster dev to answer", [log_path])
        yield port, log_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict) -> dict:
    """POST a GraphQL query to a webserver on 127.0.0.1; returns ``data`` (errors fail the test with the reply)."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        reply = json.load(response)
    if reply.get("errors"):
        pytest.fail(f"GraphQL errors: {reply['errors']}")
    return reply["data"]


def server_answers(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5).status == 200
    except OSError:
        return False


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, logs: Sequence[Path]) -> Any:
    """Poll ``predicate`` every 2 s until it returns a truthy value; on timeout, fail with the processes' logs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}\n{tail(logs)}")


def tail(logs: Sequence[Path], chars: int = 3000) -> str:
    return "\n".join(f"--- {log.name}:\n{log.read_text(errors='replace')[-chars:]}" for log in logs if log.exists())


@contextmanager
def background(command: Sequence[str], log_path: Path, env: Mapping[str, str], cwd: Path) -> Iterator[subprocess.Popen]:
    """Run ``command`` in its own process group, output to ``log_path``; SIGINT (then SIGKILL) the group on exit.

    Background processes here may start with SIGINT/SIGTERM ignored: ``env --default-signal`` restores them so
    that the process can be stopped.
    """
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["setsid", "env", "--default-signal=INT,TERM", *command],
            cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield process
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
