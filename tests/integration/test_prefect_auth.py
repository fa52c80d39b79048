"""Prefect's basic auth on a real server: an unauthenticated call gets 401; a process of ours
given only the server's string (``PREFECT_SERVER_API_AUTH_STRING``) reads the API and its events
(``infra.events.emit``) arrive."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from infra.secrets import CLIENT_AUTH_ENV, SERVER_AUTH_ENV
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

AUTH = "pyros-operator:auth-s3cret-5d1e"

CLIENT = """
from infra.secrets import adopt_client_auth
adopt_client_auth()  # what every pyros command and the supervisor do first
from prefect.client.orchestration import get_client
from infra.events import emit, flush_sent_events
with get_client(sync_client=True) as client:
    client.read_flows()
emit("pyros.test.auth", "pyros.site.test", {"n": 1})
flush_sent_events(20)
print("ok")
"""


def _post(url: str, body: dict, auth: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    if auth is not None:
        request.add_header("Authorization", f"Basic {base64.b64encode(auth.encode()).decode()}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, dict[str, str]]]:
    """A Prefect server with basic auth on a free loopback port; stopped after."""
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), SERVER_AUTH_ENV: AUTH}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env.pop(CLIENT_AUTH_ENV, None)
    env.pop("PREFECT_API_URL", None)
    log = (tmp_path / "server.log").open("ab")
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*argv, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2):  # open without auth
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the Prefect server did not answer within 120 s")
        yield api, {**env, "PREFECT_API_URL": api}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        log.close()


def test_basic_auth_refuses_strangers_and_serves_our_clients(server, engine):
    api, env = server
    assert _post(f"{api}/flows/filter", {})[0] == 401
    assert _post(f"{api}/flows/filter", {}, auth="pyros-operator:wrong")[0] == 401
    assert _post(f"{api}/flows/filter", {}, auth=AUTH)[0] == 200

    client = subprocess.run(
        [sys.executable, "-c", CLIENT], env=env, capture_output=True, text=True, timeout=300
    )
    assert client.returncode == 0 and client.stdout.strip().endswith("ok"), client.stderr
    assert "auth-s3cret" not in client.stdout + client.stderr

    body = {"filter": {"event": {"name": ["pyros.test.auth"]}}, "limit": 5}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, content = _post(f"{api}/events/filter", body, auth=AUTH)
        assert status == 200
        if json.loads(content)["events"]:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the event sent with the auth string never reached the server")
