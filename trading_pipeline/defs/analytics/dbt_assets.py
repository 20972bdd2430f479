"""The dbt project's models and tests as Dagster assets and checks, downstream of the assets that write the journal.

Each dbt source names the Dagster asset that writes its table (``meta.dagster.asset_key`` in
dbt_project/models/sources.yml), so the lineage runs fills/portfolio/sized_orders/strategy_selection → staging →
marts. The manifest is parsed offline when this module loads and it is missing or older than a project file
(``dbt parse`` needs no connection; a Docker image parses it at build time).
"""

import fcntl
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetSelection, define_asset_job
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from trading_pipeline.defs.analytics.profile import dbt_environment
from trading_pipeline.defs.resources.journal import JournalResource

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# The dbt next to this interpreter: a process started without the virtualenv on PATH still finds it.
_LOCAL_DBT = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_LOCAL_DBT) if _LOCAL_DBT.exists() else "dbt"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def prepare_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the project when its manifest is missing or stale; concurrent loaders wait for one parse."""
    lock_path = project.manifest_path.with_name(".parse.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_stale(project.manifest_path, project.project_dir):
            DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE).cli(
                ["parse", "--quiet"], target_path=project.target_path
            ).wait()
    return project.manifest_path


def _is_stale(manifest: Path, project_dir: Path) -> bool:
    if not manifest.exists():
        return True
    # Only the project's own files: target/ fills up with one folder per dbt invocation.
    sources = [
        *project_dir.glob("*.yml"),
        *(p for d in ("models", "macros", "tests") for p in (project_dir / d).rglob("*")),
    ]
    return max(path.stat().st_mtime for path in sources) > manifest.stat().st_mtime


class AnalyticsTranslator(DagsterDbtTranslator):
    """Models under the ``analytics`` key prefix and group; sources keep the asset keys their meta names."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return AssetKey(["analytics", dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return "analytics"


@dbt_assets(
    manifest=prepare_manifest(),
    project=dbt_project,
    # Several journal tables come from one asset (orders and fills from the execution step, for instance).
    dagster_dbt_translator=AnalyticsTranslator(DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)),
    name="analytics_dbt",
    pool="analytics_dbt",  # one dbt build at a time: the DuckDB file takes a single writer
)
def analytics_dbt(context: AssetExecutionContext, dbt: DbtCliResource, journal: JournalResource):
    """``dbt build`` (models and their tests) on the journal the run's ``journal`` resource points at."""
    duckdb_path = Path(context.instance.root_directory) / "trading_pipeline" / "analytics.duckdb"
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with _environment(dbt_environment(journal.journal.database_url, duckdb_path)):
        invocation = dbt.cli(["build"], context=context)  # the dbt process starts here, with this environment
    yield from invocation.stream()


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for a child process started inside the block (dagster-dbt copies os.environ at launch)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


analytics_job = define_asset_job(
    "analytics",
    selection=AssetSelection.assets(analytics_dbt),
    description="dbt build of the journal's staging models and marts, with their tests as asset checks.",
)

DBT_RESOURCE = DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)
