"""Under the paper and live profiles a launch cannot move the journal, write outside DAGSTER_HOME or add strategy
plugins; offline it still can. Real runs of the daily cycle: a refused run fails when it starts, before any step.

The runs use the paper profile's locked resources (built with fake keys) over the offline data, broker and policy,
so nothing reaches the network."""

import os
import re
import sys
from pathlib import Path

import pytest
from dagster import (
    DagsterEventType,
    DagsterResourceFunctionError,
    build_init_resource_context,
    build_resources,
    materialize,
)

from trading_pipeline.definitions import ASSETS, CHECKS, DEFAULT_RESOURCES, defs
from trading_pipeline.defs.profiles import profile_from
from trading_pipeline.defs.research.sweep_results import sweep_results
from trading_pipeline.defs.resources.launch_lock import (
    LaunchConfigRefused,
    LockedJournal,
    LockedReportFolder,
    LockedStrategyCatalog,
    inside_home,
)
from trading_pipeline.defs.resources.report_folder import REPORT_FIELD, REPORT_OP, SWEEP_OP, ReportFolder
from trading_pipeline.journal import Journal

START, END = "2012-06-01", "2012-06-08"
FAKE_KEYS = {"ALPACA_API_KEY": "fake-key-id", "ALPACA_SECRET_KEY": "fake-secret"}
PROFILES = {name: profile_from({"TRADING_PROFILE": name, **FAKE_KEYS}) for name in ("offline", "paper")}
LOCKED_KEYS = ("journal", "session_store", "strategies", "report_folder")
PAPER_LOCKS = {**DEFAULT_RESOURCES, **{key: PROFILES["paper"].resources[key] for key in LOCKED_KEYS}}
# A name that says where a run reads, writes or imports from.
PLACE = re.compile(r"url|dir|path|plugins|entry_points")

PLUGIN = """
import pathlib

import pandas as pd

from trading_pipeline.domain.strategies import atr_signals, strategy

pathlib.Path({marker!r}).write_text("imported")


@strategy(name="NeverTrades", min_history=1)
def never_trades(panel: pd.DataFrame) -> pd.DataFrame:
    no = pd.Series(False, index=panel.index)
    return atr_signals(panel, no, no, no.astype(float), pd.Series("never", index=panel.index))
"""


@pytest.fixture
def places(tmp_path, instance, monkeypatch):
    """DAGSTER_HOME, a folder beside it, a symlink from inside it to that folder, and a plugin that leaves a mark
    when it is imported."""
    home = Path(instance.root_directory)
    outside = tmp_path / "outside"
    outside.mkdir()
    (home / "link").symlink_to(outside)
    (tmp_path / "marking_plugin.py").write_text(PLUGIN.format(marker=str(tmp_path / "imported")))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield home, outside, tmp_path / "imported"
    sys.modules.pop("marking_plugin", None)


def _overrides(home: Path, outside: Path, marker: Path) -> dict[str, tuple[dict, str, Path]]:
    """Each launch a deployment must refuse: its run config, the field the refusal names, what it would create."""
    resource = lambda key, **config: {"resources": {key: {"config": config}}}  # noqa: E731
    return {
        "journal elsewhere": (resource("journal", url=f"sqlite:///{outside}/journal.db"), "resources.journal.config.url",
                              outside / "journal.db"),
        "tables elsewhere": (resource("session_store", base_dir=str(outside / "tables")),
                             "resources.session_store.config.base_dir", outside / "tables"),
        "tables through ..": (resource("session_store", base_dir="../outside/dotdot"),
                              "resources.session_store.config.base_dir", outside / "dotdot"),
        "tables through a symlink": (resource("session_store", base_dir=str(home / "link" / "linked")),
                                     "resources.session_store.config.base_dir", outside / "linked"),
        "report elsewhere": ({"ops": {REPORT_OP: {"config": {REPORT_FIELD: str(outside / "report")}}}},
                             f"ops.{REPORT_OP}.config.{REPORT_FIELD}", outside / "report"),
        "a plugin": (resource("strategies", plugins=["marking_plugin:never_trades"]),
                     "resources.strategies.config.plugins", marker),
    }  # fmt: skip


def _cycle(instance, resources: dict, *run_configs: dict):
    """The daily cycle over [START, END] as one run, with the run configs merged (without a tearsheet)."""
    merged: dict = {}
    for run_config in ({"ops": {REPORT_OP: {"config": {"tearsheet": False}}}}, *run_configs):
        for section, entries in run_config.items():
            for key, value in entries.items():
                merged.setdefault(section, {}).setdefault(key, {"config": {}})["config"].update(value["config"])
    return materialize(
        [*ASSETS, *CHECKS],
        instance=instance,
        resources=resources,
        run_config=merged,
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": END},
    )


def _equity_rows(url: str) -> int:
    return len(Journal(url).read("equity", book=DEFAULT_RESOURCES["trading"].book))


def _refusal(result) -> str:
    """The text of the run's resource initialization failure (the error and its causes)."""
    (failure,) = [e for e in result.all_events if e.event_type == DagsterEventType.RESOURCE_INIT_FAILURE]
    texts, error = [], failure.event_specific_data.error
    while error is not None:
        texts.append(error.message)
        error = error.cause
    return "\n".join(texts)


@pytest.mark.parametrize(
    "case",
    ["journal elsewhere", "tables elsewhere", "tables through ..", "tables through a symlink", "report elsewhere",
     "a plugin"],
)  # fmt: skip
def test_the_paper_profile_refuses_each_override_before_any_step(instance, places, case):
    run_config, field, would_create = _overrides(*places)[case]
    home = places[0]
    result = _cycle(instance, PAPER_LOCKS, run_config)
    assert not result.success
    refusal = _refusal(result)
    assert field in refusal and "under the paper and live profiles" in refusal
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.STEP_START]
    assert not would_create.exists()
    assert not (home / "trading_pipeline" / "tables").exists()  # no step wrote its table either


def test_the_paper_profile_refuses_a_sweep_folder_outside_dagster_home_before_any_step(instance, places):
    _, outside, _ = places
    result = materialize(
        [*ASSETS, sweep_results],
        selection=[sweep_results],
        instance=instance,
        resources=PAPER_LOCKS,
        run_config={"ops": {SWEEP_OP: {"config": {REPORT_FIELD: str(outside / "sweep")}}}},
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": END},
    )
    assert not result.success
    assert f"ops.{SWEEP_OP}.config.{REPORT_FIELD}: {outside / 'sweep'} resolves to" in _refusal(result)
    assert not (outside / "sweep").exists() and not list(outside.iterdir())


def test_the_paper_profile_runs_with_folders_inside_dagster_home(instance, places):
    """Relative folders are taken from DAGSTER_HOME; the journal stays the deployment's (the instance's SQLite)."""
    home = places[0]
    run_config = {
        "resources": {"session_store": {"config": {"base_dir": "custom_tables"}}, "journal": {"config": {"url": None}}},
        "ops": {REPORT_OP: {"config": {REPORT_FIELD: "reports/custom"}}},
    }
    result = _cycle(instance, PAPER_LOCKS, run_config)
    assert result.success
    assert (home / "custom_tables" / "market_bars" / "2012-06.parquet").exists()
    assert (home / "reports" / "custom" / "metrics.json").exists()
    assert _equity_rows(f"sqlite:///{home / 'trading_pipeline' / 'journal.db'}") == 6  # June 1, 4-8 2012


def test_the_offline_profile_still_accepts_every_override(instance, places):
    """A backtest from the UI may keep its journal, tables and report anywhere and load its own plugin."""
    home, outside, marker = places
    overrides = _overrides(home, outside, marker)
    cases = ("journal elsewhere", "tables elsewhere", "report elsewhere", "a plugin")
    result = _cycle(instance, DEFAULT_RESOURCES, *(overrides[case][0] for case in cases))
    assert result.success
    assert (outside / "tables" / "market_bars" / "2012-06.parquet").exists()
    assert (outside / "report" / "metrics.json").exists()
    assert _equity_rows(f"sqlite:///{outside}/journal.db") == 6
    assert marker.read_text() == "imported"


def test_paper_and_live_lock_every_place_a_launch_could_name():
    """Every launch-configurable field of the paper and live resources (and every op config) that names a place to
    read, write or import from is locked here, or listed as someone else's to lock. Nested resources (the market
    data providers) have no launch config at all."""
    locked = {("journal", "url"), ("session_store", "base_dir"), ("strategies", "plugins"),
              ("strategies", "entry_points")}  # fmt: skip
    locked |= {("broker", "trading_url"), ("memory", "path")}  # the memory's file stays inside DAGSTER_HOME
    locked |= {("discovery", "trading_url"), ("discovery", "data_url"), ("discovery", "membership_path")}
    not_locked_here = {
        ("alerter", "webhook_url"),  # where failure alerts go (the alerter reads TRADING_ALERT_WEBHOOK_URL)
    }
    live = profile_from({"TRADING_PROFILE": "live", **FAKE_KEYS, "TRADING_LIVE_CONFIRM": "I-ACCEPT-REAL-MONEY-ORDERS"})
    for profile in (PROFILES["paper"], live):
        named = {
            (key, field)
            for key, resource in profile.resources.items()
            for field in resource.get_resource_definition().config_schema.config_type.fields
            if PLACE.search(field)
        }
        assert named == locked | not_locked_here, profile.name
        assert isinstance(profile.resources["report_folder"], LockedReportFolder)
    op_places = {
        (node.name, field)
        for node in defs.resolve_job_def("daily_cycle").graph.node_defs
        if node.config_schema is not None and node.config_schema.config_type is not None
        for field in getattr(node.config_schema.config_type, "fields", {})
        if PLACE.search(field)
    }
    assert op_places == {(REPORT_OP, REPORT_FIELD)}
    sweep_places = {field for field in sweep_results.op.config_schema.config_type.fields if PLACE.search(field)}
    assert sweep_places == {REPORT_FIELD}  # locked by LockedReportFolder as SWEEP_OP's


def test_inside_home_resolves_relative_paths_dots_and_symlinks(tmp_path):
    home = tmp_path / "home"
    (home / "reports").mkdir(parents=True)
    (home / "escape").symlink_to(tmp_path)
    (tmp_path / "via_link").symlink_to(home)  # DAGSTER_HOME reached through a symlink is still itself
    assert inside_home("reports/a", home, "f") == home.resolve() / "reports" / "a"
    assert inside_home(str(home / "reports" / ".." / "b"), home, "f") == home.resolve() / "b"
    assert inside_home(str(tmp_path / "via_link" / "c"), home, "f") == home.resolve() / "c"
    assert inside_home(".", home, "f") == home.resolve()
    for outside in ("..", "../home2", str(tmp_path / "elsewhere"), "escape/x", "/etc"):
        with pytest.raises(LaunchConfigRefused, match=r"ops.x.config.out_dir: .* outside DAGSTER_HOME"):
            inside_home(outside, home, "ops.x.config.out_dir")


def _set_up(key: str, resource, config: dict, instance=None):
    """The resource as Dagster sets it up with ``config`` given at launch, or the refusal it raised."""
    try:
        with build_resources({key: resource}, instance=instance, resource_config={key: {"config": config}}) as got:
            return getattr(got, key)
    except DagsterResourceFunctionError as failed:
        assert isinstance(failed.user_exception, LaunchConfigRefused), failed
        return failed.user_exception


def test_the_deployed_plugins_may_be_repeated_or_dropped_never_added(places):
    deployed = LockedStrategyCatalog(plugins=["marking_plugin:never_trades"], entry_points=False)
    for launched in ([], ["marking_plugin:never_trades"]):
        assert _set_up("strategies", deployed, {"plugins": launched, "entry_points": False}).plugins == launched
    added = _set_up("strategies", deployed, {"plugins": ["other:thing"], "entry_points": False})
    assert "resources.strategies.config.plugins adds ['other:thing']" in str(added)
    entry_points = _set_up("strategies", deployed, {"entry_points": True})
    assert "resources.strategies.config.entry_points cannot be turned on" in str(entry_points)
    # Dagster gives a field the launch leaves out its class default (True here), not the deployed False: refused too.
    left_out = _set_up("strategies", deployed, {"plugins": []})
    assert "entry_points cannot be turned on" in str(left_out) and "Set it to false" in str(left_out)


def test_a_refused_journal_url_is_never_shown(instance):
    """The URL may carry a password: the refusal names the field and the variable, never the value."""
    secret_url = "postgresql+psycopg://trader:hunter2-secret@db.example:5432/trading"
    refused = str(_set_up("journal", LockedJournal(), {"url": secret_url}, instance))
    assert "resources.journal.config.url cannot be set at launch" in refused and "TRADING_JOURNAL_URL" in refused
    assert "hunter2" not in refused
    assert _set_up("journal", LockedJournal(), {"url": None}, instance).url is None  # the deployed value: no change


def test_the_locked_report_folder_defaults_inside_dagster_home(instance):
    home = Path(instance.root_directory)
    folder = LockedReportFolder()
    folder.setup_for_execution(build_init_resource_context(instance=instance))
    assert folder.path(home, None, "paper") == ReportFolder().path(home.resolve(), None, "paper")
    with pytest.raises(LaunchConfigRefused, match=re.escape(f"ops.{REPORT_OP}.config.{REPORT_FIELD}")):
        folder.path(home, os.path.dirname(home), "paper")


KEYS_BY_NAME = {"api_key": {"env": "ALPACA_API_KEY"}, "secret_key": {"env": "ALPACA_SECRET_KEY"}}


def test_a_launch_that_sets_some_book_limits_keeps_the_deployed_book_and_broker(monkeypatch):
    """Dagster gives the fields a launch leaves out their class defaults: the deployed values are those defaults."""
    for name, value in FAKE_KEYS.items():
        monkeypatch.setenv(name, value)
    paper = PROFILES["paper"].resources
    config = {
        "trading": {"config": {"max_open_positions": 3}},
        "broker": {"config": {"timeout_s": 5.0, **KEYS_BY_NAME}},
    }
    with build_resources({"trading": paper["trading"], "broker": paper["broker"]}, resource_config=config) as built:
        assert (built.trading.book, built.trading.max_open_positions) == ("paper", 3)
        assert (built.broker.mode, built.broker.trading_url, built.broker.timeout_s) == ("paper", None, 5.0)


@pytest.mark.parametrize(("field", "value"), [("trading_url", "http://collector.example:8080"), ("mode", "live")])
def test_a_launch_cannot_send_the_keys_elsewhere_or_switch_paper_and_live(field, value, monkeypatch):
    for name, key in FAKE_KEYS.items():
        monkeypatch.setenv(name, key)
    paper = PROFILES["paper"].resources
    config = {"broker": {"config": {field: value, **KEYS_BY_NAME}}}
    with pytest.raises(DagsterResourceFunctionError) as refused:
        with build_resources({"broker": paper["broker"]}, resource_config=config):
            pass
    assert f"resources.broker.config.{field} cannot be set at launch" in str(refused.value.__cause__)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("trading_url", "http://collector.example:8080"),
        ("data_url", "http://collector.example:8080"),
        ("paper", False),
        ("membership_path", "/etc/passwd"),
    ],
)
def test_a_launch_cannot_point_discovery_elsewhere(field, value, monkeypatch):
    for name, key in FAKE_KEYS.items():
        monkeypatch.setenv(name, key)
    discovery = PROFILES["paper"].resources["discovery"]
    with build_resources(
        {"discovery": discovery}, resource_config={"discovery": {"config": {"max_watchlist": 5, **KEYS_BY_NAME}}}
    ):
        pass  # a launch may tune discovery
    config = {"discovery": {"config": {field: value, **KEYS_BY_NAME}}}
    with pytest.raises(DagsterResourceFunctionError) as refused:
        with build_resources({"discovery": discovery}, resource_config=config):
            pass
    assert f"resources.discovery.config.{field} cannot be set at launch" in str(refused.value.__cause__)
