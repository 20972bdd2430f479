"""The docker-compose topology, run as local processes: the compose file's own commands for the two code servers
(trading, analytics), the webserver and the daemon, on deploy/dagster.yaml (PostgreSQL instance, queued run
coordinator) with the journal on PostgreSQL. Runs launched through the webserver's GraphQL API succeed: the daily
job, then the dbt analytics job on what it journaled.

Docker cannot run here (and this machine's docker client has no compose plugin), so the compose file itself is
checked for structure: services, health checks, volumes, the UI on 127.0.0.1 behind the authenticating proxy, and
no literal secret (deploy/Caddyfile itself runs in trading_pipeline_tests/deploy/test_proxy.py).
"""

import os
import re
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from dagster import PartitionKeyRange

from trading_pipeline.defs.partitions import sessions_partitions
from trading_pipeline.instance import POSTGRES_ENV, RUN_ENVIRONMENT, concurrency_config, postgres_storage_config
from trading_pipeline_tests.processes import background, free_port, graphql, server_answers, tail, wait_for

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DEPLOY = REPO / "deploy"
START, END = "2012-06-01", "2012-06-15"
BIN = Path(sys.executable).parent

LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId status } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidStepError { invalidStepKey } } }"""
RUN_STATUS = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"""
LOCATION = """query { workspaceOrError { ... on Workspace { locationEntries { name
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _command(service: str, replacements: dict[str, str]) -> list[str]:
    """The compose service's command with container addresses and paths replaced, on this virtualenv's binaries."""
    command = [replacements.get(arg, arg) for arg in COMPOSE["services"][service]["command"]]
    return [str(BIN / command[0]), *command[1:]]


@pytest.fixture
def deployment(tmp_path, pg_databases):
    dagster_db, journal_db = pg_databases("dagster"), pg_databases("deploy_journal")
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    instance["local_artifact_storage"]["config"]["base_dir"] = str(home / "storage")
    instance["compute_logs"]["config"]["base_dir"] = str(home / "storage" / "compute_logs")
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    grpc_port, analytics_port, ui_port = free_port(), free_port(), free_port()
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    workspace["load_from"][0]["grpc_server"].update(host="127.0.0.1", port=grpc_port)
    workspace["load_from"][1]["grpc_server"].update(host="127.0.0.1", port=analytics_port)
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))

    env = {
        **os.environ,
        **RUN_ENVIRONMENT,
        "DAGSTER_HOME": str(home),
        POSTGRES_ENV["hostname"]: dagster_db.host,
        POSTGRES_ENV["port"]: str(dagster_db.port),
        POSTGRES_ENV["username"]: dagster_db.user,
        POSTGRES_ENV["password"]: dagster_db.password,
        POSTGRES_ENV["db_name"]: dagster_db.dbname,
        "TRADING_JOURNAL_URL": journal_db.url(),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    container_paths = {
        "0.0.0.0": "127.0.0.1",
        "4000": str(grpc_port),
        "4001": str(analytics_port),
        "3000": str(ui_port),
        "/opt/dagster/dagster_home/workspace.yaml": str(home / "workspace.yaml"),
    }
    services = ("user_code", "analytics_code", "webserver", "daemon")
    logs = [tmp_path / f"{service}.log" for service in services]
    with ExitStack() as stack:
        processes = {
            service: stack.enter_context(background(_command(service, container_paths), log, env, REPO))
            for service, log in zip(services, logs, strict=True)
        }

        def alive():
            exited = [name for name, p in processes.items() if p.poll() is not None]
            if exited:
                pytest.fail(f"{exited} exited\n{tail(logs)}")

        def locations_loaded():
            alive()
            if not server_answers(ui_port):
                return False
            entries = graphql(ui_port, LOCATION, {})["workspaceOrError"]["locationEntries"]
            loaded = [e["locationOrLoadError"] for e in entries]
            return len(loaded) == 2 and all(e and e["__typename"] == "RepositoryLocation" for e in loaded)

        wait_for(locations_loaded, 300, "the webserver to load both code locations from their gRPC servers", logs)
        yield ui_port, logs, alive, dagster_db, journal_db


def _launch_and_wait(ui_port: int, logs, alive, params: dict) -> str:
    """Launch a run through GraphQL (as the UI's launchpad does) and return its id once it SUCCEEDED."""
    launched = graphql(ui_port, LAUNCH, {"p": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert launched["run"]["status"] == "QUEUED"  # the queued coordinator admits it; the daemon dequeues it

    def finished():
        alive()
        status = graphql(ui_port, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        return status if status not in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING") else None

    status = wait_for(finished, 600, f"run {run_id} to finish", logs)
    assert status == "SUCCESS", tail(logs)
    return run_id


def test_runs_launched_through_graphql_succeed_on_the_postgres_deployment(deployment):
    """The daily job journals into PostgreSQL; then the analytics job (other location) builds the marts there."""
    ui_port, logs, alive, dagster_db, journal_db = deployment
    run_id = _launch_and_wait(ui_port, logs, alive, {
        "selector": {"repositoryLocationName": "trading_pipeline", "repositoryName": "__repository__",
                     "jobName": "daily_cycle"},
        "runConfigData": {"ops": {"performance_report": {"config": {"tearsheet": False}}}},
        "executionMetadata": {"tags": [{"key": "dagster/asset_partition_range_start", "value": START},
                                       {"key": "dagster/asset_partition_range_end", "value": END}]},
    })  # fmt: skip
    # The instance is the PostgreSQL one, and the run journaled into the PostgreSQL journal.
    with dagster_db.connect() as conn:
        assert conn.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,)).fetchone() == ("SUCCESS",)
    with journal_db.connect() as conn:
        sessions = conn.execute("SELECT count(*) FROM equity WHERE run_id = %s", (run_id,)).fetchone()[0]
    assert sessions == len(sessions_partitions.get_partition_keys_in_range(PartitionKeyRange(START, END))) == 11

    _launch_and_wait(ui_port, logs, alive, {
        "selector": {"repositoryLocationName": "analytics", "repositoryName": "__repository__", "jobName": "analytics"},
    })  # fmt: skip
    with journal_db.connect() as conn:
        marts = conn.execute("SELECT count(*) FROM analytics.daily_pnl WHERE session BETWEEN %s AND %s", (START, END))
        assert marts.fetchone()[0] == sessions


def test_deploy_instance_storage_is_the_one_the_project_writes():
    """deploy/dagster.yaml and ``write_instance_config`` agree on the PostgreSQL storage (one source of truth)."""
    deployed = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    assert {key: deployed[key] for key in postgres_storage_config()} == postgres_storage_config()
    assert "storage" not in deployed
    assert deployed["concurrency"] == concurrency_config()
    assert deployed["run_coordinator"]["class"] == "QueuedRunCoordinator"


def test_write_instance_config_targets_postgres_from_the_environment(tmp_path, monkeypatch):
    for key, var in POSTGRES_ENV.items():
        monkeypatch.setenv(var, "5432" if key == "port" else f"value-of-{key}")
    from trading_pipeline.instance import wants_postgres, write_instance_config

    assert wants_postgres()
    written = yaml.safe_load(write_instance_config(tmp_path / "pg").read_text())
    assert {key: written[key] for key in postgres_storage_config()} == postgres_storage_config()
    assert written["concurrency"] == concurrency_config()
    assert "value-of-password" not in (tmp_path / "pg" / "dagster.yaml").read_text()  # names, never values

    monkeypatch.delenv(POSTGRES_ENV["password"])
    with pytest.raises(ValueError, match="DAGSTER_POSTGRES_PASSWORD"):
        write_instance_config(tmp_path / "incomplete")
    monkeypatch.delenv(POSTGRES_ENV["hostname"])
    sqlite = yaml.safe_load(write_instance_config(tmp_path / "sqlite").read_text())
    assert "run_storage" not in sqlite and sqlite["event_log_storage"]["class"] == "BatchedSqliteEventLogStorage"


# A value that looks like a credential: long random-looking text, or a URL with a password.
_SECRET = re.compile(r"(://[^:/@\s]+:[^@${\s][^@\s]*@)|([A-Za-z0-9+/_-]{32,})")


def test_the_compose_file_is_a_complete_deployment_without_secrets():
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "user_code", "analytics_code", "webserver", "daemon", "proxy"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
    assert services["user_code"]["command"][:3] == ["dagster", "code-server", "start"]
    assert "-w" in services["webserver"]["command"] and "-w" in services["daemon"]["command"]
    assert services["webserver"]["depends_on"]["user_code"]["condition"] == "service_healthy"
    assert set(COMPOSE["volumes"]) == {"pgdata", "dagster_storage", "caddy_data"}
    code_env = services["user_code"]["environment"]
    for key in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "GROQ_API_KEY", "ANTHROPIC_API_KEY", "TRADING_JOURNAL_URL"):
        assert key in code_env
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if any(word in key for word in ("PASSWORD", "KEY", "SECRET", "URL")):
                assert value.startswith("${") or "${POSTGRES_PASSWORD" in value, f"{name}.{key} is a literal"
            assert not _SECRET.search(value), f"{name}.{key} holds what looks like a secret"
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    for entry, service in zip(workspace["load_from"], ("user_code", "analytics_code"), strict=True):
        command = services[service]["command"]
        assert entry["grpc_server"]["host"] == service
        assert str(entry["grpc_server"]["port"]) == command[command.index("-p") + 1]
        assert entry["grpc_server"]["location_name"] == command[command.index("--location-name") + 1]
        assert services["webserver"]["depends_on"][service]["condition"] == "service_healthy"


def test_the_ui_listens_on_127_0_0_1_and_remote_browsers_pass_the_proxy():
    services = COMPOSE["services"]
    assert services["webserver"]["ports"] == ["127.0.0.1:${DAGSTER_UI_PORT:-3000}:3000"]
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    assert set(published) == {"webserver", "proxy"}  # nothing else leaves the compose network
    proxy = services["proxy"]
    assert proxy["image"] == "caddy:2" and proxy["ports"] == ["${DAGSTER_PROXY_PORT:-8443}:8443"]
    assert proxy["depends_on"] == {"webserver": {"condition": "service_healthy"}}
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    # The user, host and hash come from .env, and compose refuses to start without them.
    for variable in ("DAGSTER_UI_HOST", "DAGSTER_UI_USER", "DAGSTER_UI_PASSWORD_HASH"):
        assert proxy["environment"][variable].startswith(f"${{{variable}:?set {variable} in .env"), variable
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert "https://{$DAGSTER_UI_HOST}:8443 {" in caddyfile
    assert re.search(r"basic_auth \{\s*\{\$DAGSTER_UI_USER\} \{\$DAGSTER_UI_PASSWORD_HASH\}\s*\}", caddyfile)
    assert "reverse_proxy webserver:3000" in caddyfile  # the webserver's container port
    # The health check asks the Caddyfile's health site, inside the container.
    health = re.search(r"http://127\.0\.0\.1:(\d+) \{[^}]*respond (/\S+) \"ok\" 200", caddyfile)
    assert proxy["healthcheck"]["test"] == ["CMD", "wget", "-q", "-O", "/dev/null",
                                            f"http://127.0.0.1:{health[1]}{health[2]}"]  # fmt: skip


# A bcrypt hash as Caddy, htpasswd or the bcrypt library write it.
_BCRYPT = re.compile(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}")


def test_no_password_or_hash_is_written_in_the_repository():
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, text=True, check=True)
    files = [REPO / name for name in tracked.stdout.split("\0") if name]
    assert REPO / "deploy" / "Caddyfile" in files
    hashes = [str(path) for path in files if path.is_file() and _BCRYPT.search(path.read_text(errors="replace"))]
    assert hashes == []
    # The example .env names every secret and holds none.
    example = dict(
        line.split("=", 1) for line in (DEPLOY / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )  # fmt: skip
    secrets = {key for key in example if re.search("PASSWORD|SECRET|KEY|HASH|CONFIRM", key)}
    assert {"POSTGRES_PASSWORD", "DAGSTER_UI_PASSWORD_HASH", "ALPACA_SECRET_KEY"} <= secrets
    assert {key: example[key] for key in secrets} == dict.fromkeys(secrets, "")
    assert {"DAGSTER_UI_HOST", "DAGSTER_UI_USER", "DAGSTER_PROXY_PORT"} <= set(example)


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="no docker compose client on this machine (the structure is checked above)",
)
def test_docker_compose_config_accepts_the_file():
    result = subprocess.run(
        ["docker", "compose", "-f", str(REPO / "docker-compose.yml"), "config", "--quiet"],
        env={**os.environ, "POSTGRES_PASSWORD": "only-for-validation", "DAGSTER_UI_HOST": "localhost",
             "DAGSTER_UI_USER": "admin", "DAGSTER_UI_PASSWORD_HASH": "only-for-validation"},
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
