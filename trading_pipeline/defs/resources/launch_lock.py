"""What launch config cannot change under the paper and live profiles.

Dagster lets a launch override any field of a bound resource (``resources: journal: config: url: ...`` in the
launchpad). Offline that freedom is the point: a backtest from the UI picks its data, folder and plugins. A
trading deployment must not let it point the journal elsewhere, write outside DAGSTER_HOME or import a module
as a strategy. So the paper and live profiles bind these locked variants, which refuse such a launch when the run
starts, before any step, naming the field, why and what to do:

- ``journal.url``: fixed at deployment (``$TRADING_JOURNAL_URL``, else the SQLite journal under DAGSTER_HOME).
- ``session_store.base_dir`` and performance_report's and sweep_results' ``out_dir``: resolved (relative to DAGSTER_HOME, following
  ``..`` and symlinks) and kept inside DAGSTER_HOME; the resolved folder is the one used.
- ``strategies.plugins``: none beyond those deployed; entry points only if the deployment loads them.
- ``broker.trading_url`` and ``broker.mode``: the keys go to the deployed API only, in the deployed mode.

A launch that sets some fields of a resource gets the *class* defaults for the others (Dagster 1.13), so the
profiles bind classes whose defaults are the deployed values (``deployed``): setting ``max_open_positions`` never
moves the book to another name, nor the broker to another address.

The deployed value is the one the Definitions bound: Dagster offers it as the default of the resource's whole run
config, which the locked resource reads back at setup (a launch that repeats it is no change). Dagster 1.13 gives
the fields a launch leaves out their class defaults, not the deployed values: the profiles bind these resources
with their defaults, so leaving a locked field out never changes it. The market data's folders and files are not
listed: under paper and live the providers are nested in the fallback chain, and Dagster leaves nested resources
out of the run-config schema, so no launch reaches them.
"""

import os
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, create_model

from trading_pipeline.defs.resources.alpaca_broker import AlpacaBroker
from trading_pipeline.defs.resources.discovery import AlpacaAssetsDiscovery
from trading_pipeline.defs.resources.journal import JOURNAL_URL_VARIABLE, JournalResource
from trading_pipeline.defs.resources.report_folder import (
    REPORT_FIELD,
    REPORT_OP,
    REPORT_OPS,
    ReportFolder,
    default_report_dir,
)
from trading_pipeline.defs.resources.session_store import SessionParquetIOManager
from trading_pipeline.defs.resources.strategies import StrategyCatalog
from trading_pipeline.domain.strategies.plugins import ENTRY_POINT_GROUP

UNDER = "under the paper and live profiles"


class LaunchConfigRefused(ValueError):
    """A launch tried to change what the deployment fixed; the message names the field, why and what to do."""


def locked_resources() -> dict[str, Any]:
    """The paper and live profiles' variants of the resources a launch could otherwise point elsewhere."""
    return {
        "journal": LockedJournal(),
        "session_store": LockedSessionStore(),
        "strategies": LockedStrategyCatalog(),
        "report_folder": LockedReportFolder(),
    }


def deployed(cls: type, name: str, **values: Any) -> type:
    """``cls`` with ``values`` as its defaults, so a launch that leaves those fields out keeps them."""
    fields = {
        key: (cls.model_fields[key].annotation, Field(default=value, description=cls.model_fields[key].description))
        for key, value in values.items()
    }
    return create_model(name, __base__=cls, __module__=__name__, __doc__=cls.__doc__, **fields)


def inside_home(path: str | Path, home: Path, field: str) -> Path:
    """``path`` resolved (relative to ``home``, ``..`` and symlinks followed) if it lies inside ``home``."""
    root = Path(os.path.realpath(home))
    resolved = Path(os.path.realpath(root / path))  # an absolute path replaces the root
    if not resolved.is_relative_to(root):
        raise LaunchConfigRefused(
            f"{field}: {path} resolves to {resolved}, outside DAGSTER_HOME ({root}); {UNDER} a run writes only "
            f"inside DAGSTER_HOME. Give a folder inside it (a relative path is taken from DAGSTER_HOME) or none."
        )
    return resolved


def deployed_value(context: InitResourceContext, resource: ConfigurableResource, field: str) -> Any:
    """The value the Definitions bound for ``field`` (the run-config schema's default), else the field's default
    (a resource set up outside any Definitions has no launch config to compare)."""
    schema = context.resource_def.config_schema if context.resource_def is not None else None
    if schema is not None and schema.default_provided and field in schema.default_value:
        value = schema.default_value[field]
        return os.environ.get(value["env"]) if isinstance(value, dict) and "env" in value else value  # an EnvVar
    return type(resource).model_fields[field].get_default(call_default_factory=True)


def launch_field(context: InitResourceContext, field: str) -> str:
    """Where a launch sets ``field`` of the resource being set up, e.g. ``resources.journal.config.url``."""
    key = next((k for k, d in (context.all_resource_defs or {}).items() if d is context.resource_def), None)
    return f"resources.{key or '<resource>'}.config.{field}"


def instance_home(context: InitResourceContext) -> Path:
    if context.instance is None:
        raise LaunchConfigRefused(f"{UNDER} a run needs a Dagster instance: its DAGSTER_HOME bounds what it writes")
    return Path(context.instance.root_directory)


class LockedJournal(JournalResource):
    """The deployment's journal: a launch cannot point it at another database."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if self.url != deployed_value(context, self, "url"):  # the URL may hold a password: never shown
            raise LaunchConfigRefused(
                f"{launch_field(context, 'url')} cannot be set at launch {UNDER}: the journal is the book of record "
                f"the deployment chose (${JOURNAL_URL_VARIABLE}, else the SQLite journal under DAGSTER_HOME). "
                f"Remove it from the launch config; to move the journal, change {JOURNAL_URL_VARIABLE} where the "
                "deployment is configured."
            )
        super().setup_for_execution(context)


class LockedSessionStore(SessionParquetIOManager):
    """Session tables inside DAGSTER_HOME only."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        super().setup_for_execution(context)
        self._root = inside_home(self._root, instance_home(context), launch_field(context, "base_dir"))


class LockedStrategyCatalog(StrategyCatalog):
    """Only the strategy plugins the deployment configured: a launch cannot import another module."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        added = sorted(set(self.plugins) - set(deployed_value(context, self, "plugins")))
        if added:
            raise LaunchConfigRefused(
                f"{launch_field(context, 'plugins')} adds {added} at launch {UNDER}: a plugin is code the run "
                "imports, so only those configured at deployment load. Remove them from the launch config, or "
                "deploy them (the profile's StrategyCatalog, or an installed entry point)."
            )
        if self.entry_points and not deployed_value(context, self, "entry_points"):
            raise LaunchConfigRefused(
                f"{launch_field(context, 'entry_points')} cannot be turned on at launch {UNDER}: the deployment "
                f"does not load the '{ENTRY_POINT_GROUP}' entry points. Set it to false in the launch config (a "
                "launch that sets any field of a resource gets the class defaults for the fields it leaves out)."
            )
        super().setup_for_execution(context)  # imports the plugins: only after the check


class LockedReportFolder(ReportFolder):
    """performance_report's and sweep_results' folders inside DAGSTER_HOME only, checked when the run starts (before
    any step)."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        home = instance_home(context)
        ops = (context.run.run_config.get("ops") or {}) if context.run is not None else {}
        for op in REPORT_OPS:
            out_dir = ((ops.get(op) or {}).get("config") or {}).get(REPORT_FIELD)
            if isinstance(out_dir, dict):  # {env: NAME}, as the op will read it
                out_dir = os.environ.get(out_dir.get("env", ""))
            if out_dir:
                inside_home(out_dir, home, f"ops.{op}.config.{REPORT_FIELD}")

    def path(self, home: Path, out_dir: str | None, book: str, op: str = REPORT_OP) -> Path:
        return inside_home(out_dir or default_report_dir(home, book), home, f"ops.{op}.config.{REPORT_FIELD}")


class LockedAlpacaBroker(AlpacaBroker):
    """The deployment's Alpaca: a launch cannot send the keys to another address, nor switch paper and live."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        for field in ("trading_url", "mode"):
            if getattr(self, field) != deployed_value(context, self, field):
                raise LaunchConfigRefused(
                    f"{launch_field(context, field)} cannot be set at launch {UNDER}: the broker's keys go only to "
                    f"the API and mode the deployment chose (TRADING_PROFILE, ALPACA_BASE_URL). Remove it from the "
                    "launch config; to change it, change the deployment's environment."
                )
        super().setup_for_execution(context)


class LockedAlpacaAssetsDiscovery(AlpacaAssetsDiscovery):
    """The deployment's discovery: a launch cannot send the Alpaca keys elsewhere or switch paper and live, nor read
    a membership file the deployment did not name."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        for field in ("trading_url", "data_url", "paper", "membership_path"):
            if getattr(self, field) != deployed_value(context, self, field):
                raise LaunchConfigRefused(
                    f"{launch_field(context, field)} cannot be set at launch {UNDER}: discovery's candidates come from "
                    "the API, mode and membership file the deployment chose. Remove it from the launch config; to "
                    "change it, change the deployment's Definitions or environment."
                )
