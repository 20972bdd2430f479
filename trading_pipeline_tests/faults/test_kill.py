"""kill -9 inside each step of a cycle, then the same command again: the book ends as a clean run leaves it, and
while it is dead the book holds its previous results, never a part of the killed run's."""

from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context

from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.sensors import dead_run_sensor
from trading_pipeline.journal.books import lock_holder
from trading_pipeline_tests.faults.cli import Cli, assert_same_book

FIRST = ["backtest", "--start", "2012-01-03", "--end", "2012-03-30", "--json"]
SECOND = ["backtest", "--start", "2012-01-03", "--end", "2012-06-29", "--json"]
POINTS = ["market_bars", "signals", "sizing", "check", "execution", "audit", "commit"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    """The book as the two backtests leave it, each run once and never killed."""
    cli = Cli(tmp_path_factory.mktemp("clean") / "home")
    first = cli.run(*FIRST)
    assert first.returncode == 0, first.stderr
    after_first = cli.book("backtest")
    second = cli.run(*SECOND)
    assert second.returncode == 0, second.stderr
    return {"first": after_first, "second": cli.book("backtest")}


@pytest.mark.parametrize("point", POINTS)
def test_a_backtest_killed_inside_a_step_leaves_the_previous_results_and_its_rerun_equals_a_clean_run(
    tmp_path, clean, point
):
    cli = Cli(tmp_path / "home")
    assert cli.run(*FIRST).returncode == 0
    assert_same_book(cli.book("backtest"), clean["first"])

    cli.start_paused(point, *SECOND).kill()
    assert_same_book(cli.book("backtest"), clean["first"])  # the killed run changed nothing the book shows

    rerun = cli.run(*SECOND)  # the lock of a dead process is taken over
    assert rerun.returncode == 0, rerun.stderr
    assert_same_book(cli.book("backtest"), clean["second"])
    assert lock_holder(cli.journal(), "backtest") is None


def test_a_killed_run_is_marked_failed_by_the_dead_run_sensor_and_its_lock_released(tmp_path):
    cli = Cli(tmp_path / "home")
    paused = cli.start_paused("sizing", *FIRST)
    holder = lock_holder(cli.journal(), "backtest")
    assert holder is not None and holder.pid == paused.process.pid
    paused.kill()
    instance = DagsterInstance.from_config(str(cli.home))
    assert instance.get_run_by_id(holder.run_id).status == DagsterRunStatus.STARTED  # nothing noticed yet
    with build_sensor_context(instance=instance, resources={"journal": JournalResource()}) as context:
        result = dead_run_sensor(context)
    assert holder.run_id in str(result)
    run = instance.get_run_by_id(holder.run_id)
    assert run.status == DagsterRunStatus.FAILURE  # it no longer holds a slot of the run queue
    assert lock_holder(cli.journal(), "backtest") is None
    instance.dispose()


def test_the_instance_a_new_home_gets_has_run_monitoring_on(tmp_path):
    from trading_pipeline.instance import write_instance_config

    instance = DagsterInstance.from_config(str(write_instance_config(Path(tmp_path)).parent))
    assert instance.run_monitoring_enabled
    instance.dispose()
