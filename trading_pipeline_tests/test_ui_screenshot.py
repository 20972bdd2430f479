"""The Dagster UI renders the trading assets: `dagster dev`, the asset graph in headless Chromium, a screenshot.

Set TRADING_PIPELINE_UI_SCREENSHOT=1 to also copy the screenshot to out/ui/asset_graph.png.
"""

import os
import shutil
import struct
import subprocess

import pytest

from trading_pipeline_tests.processes import REPO, dagster_dev, tail  # noqa: F401  (dagster_dev: fixture)

# The execution group's lineage: its assets in full, with their upstream and downstream neighbours.
PAGE = "locations/trading_pipeline/asset-groups/execution"
EXPECTED = ("market_bars", "sized_orders", "fills", "portfolio", "performance_report")
WIDTH, HEIGHT = 1600, 1000


@pytest.fixture
def chromium() -> str:
    binary = shutil.which("chromium")
    if binary is None:
        message = "chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


def _chromium(binary: str, profile, url: str, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on ``url``; virtual time runs the page's timers and waits for its requests."""
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={WIDTH},{HEIGHT}",
        "--virtual-time-budget=20000", f"--user-data-dir={profile}", *args, url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        pytest.fail(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def test_the_asset_graph_shows_the_trading_assets(dagster_dev, chromium, tmp_path):
    port, log_path = dagster_dev
    url = f"http://127.0.0.1:{port}/{PAGE}"
    # The graph is laid out after several GraphQL answers: on a loaded machine the first look may be early.
    for _ in range(3):
        dom = _chromium(chromium, tmp_path / "profile", url, "--dump-dom").stdout
        if all(name in dom for name in EXPECTED):
            break
    missing = [name for name in EXPECTED if name not in dom]
    assert not missing, f"the page lacks {missing}:\n{dom[-3000:]}\n{tail([log_path])}"
    assert "Join the Dagster community" not in dom  # no dialog covers the graph

    shot = tmp_path / "asset_graph.png"
    _chromium(chromium, tmp_path / "profile", url, f"--screenshot={shot}")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (WIDTH, HEIGHT)
    assert len(png) > 30_000  # a rendered graph, not a blank page (~150 KB here)
    if os.environ.get("TRADING_PIPELINE_UI_SCREENSHOT"):
        out = REPO / "out" / "ui" / "asset_graph.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, out)
