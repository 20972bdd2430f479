"""The README's user strategy (an SMA 10/20 cross in the user's own module) through a one-run backfill."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from trading_pipeline.defs.resources.selector import RuleBasedSelector
from trading_pipeline.defs.resources.strategies import StrategyCatalog
from trading_pipeline_tests.cycles import run_cycle

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def readme_example(tmp_path, monkeypatch) -> str:
    """The README's `my_strategies.py`, verbatim, as an importable module outside the package."""
    section = README.read_text().split("### Your own strategy", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "my_strategies.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_strategies:sma_cross"
    sys.modules.pop("my_strategies", None)


def _backfill(instance, plugin: str):
    """The first half of 2012 as one run, with the plugin registered and the selector pinned to it."""
    return run_cycle(
        instance,
        "2012-01-03",
        "2012-06-29",
        strategies=StrategyCatalog(plugins=[plugin]),
        selector=RuleBasedSelector(pin="SmaCross"),
    )


def test_readme_sma_cross_runs_through_a_backfill(instance, readme_example) -> None:
    run = _backfill(instance, readme_example)
    assert run.result.success, run.failed_checks()
    orders = run.table("orders")
    fills = run.table("fills")
    assert len(orders) > 0 and set(orders["strategy"]) == {"SmaCross"}
    assert orders["reason"].str.match(r"SMA10 crossed (above|below) SMA20").all()
    assert len(fills) > 0
    # The same range run again gives the identical fills: the plugin is deterministic like the built-ins.
    again = _backfill(instance, readme_example)
    cols = ["session", "symbol", "side", "qty", "price"]
    assert again.table("fills")[cols].equals(fills[cols])


def test_an_unregistered_plugin_is_refused_before_anything_trades(instance) -> None:
    run = run_cycle(instance, "2012-01-03", "2012-01-31", selector=RuleBasedSelector(pin="SmaCross"))
    assert not run.result.success
    assert run.table("orders").empty
