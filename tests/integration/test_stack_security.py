"""Safe by default through the stack: with Prefect's basic auth configured the stack runs a short
simulated night on PostgreSQL reached by a URL with a password (every client of ours
authenticates), the API refuses an unauthenticated call, and no secret given in the environment
(the auth string, the GCN client secret, the database password) is found in any file the night
left behind (logs, run files, reports, frames, Prefect's own database with its logs, events and
artifacts), in the command's output, nor in any row of the PyROS database (the journal)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from infra.secrets import CLIENT_AUTH_ENV, SERVER_AUTH_ENV
from tests.support.databases import only_on

pytestmark = pytest.mark.integration

AUTH = "pyros-operator:auth-s3cret-7f3a1c"
KAFKA_SECRET = "gcn-kafka-s3cret-91c2e0"
#: What must appear nowhere: the secrets, and the auth string as a Basic header carries it.
DB_PASSWORD = "db-s3cret-4c7d21"
NEEDLES = [
    b"auth-s3cret-7f3a1c",
    b"gcn-kafka-s3cret-91c2e0",
    base64.b64encode(AUTH.encode()),
    DB_PASSWORD.encode(),
]


def _status(url: str, auth: str | None = None) -> int:
    request = urllib.request.Request(
        url, data=b"{}", method="POST", headers={"Content-Type": "application/json"}
    )
    if auth is not None:
        request.add_header("Authorization", f"Basic {base64.b64encode(auth.encode()).decode()}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _files_holding_a_secret(root: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {needle!r}" for needle in NEEDLES if needle in data]
    return found


def _rows_holding_a_secret(engine) -> list[str]:
    """Every row of every table of the PyROS database, as text and bytes, searched."""
    found = []
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                data = b" ".join(
                    bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                    for value in row
                )
                found += [f"{table.name}: {needle!r}" for needle in NEEDLES if needle in data]
    return found


# PostgreSQL (the trust-auth server here accepts the password it is given; what matters is where
# the URL holding it goes: never into a file, a log, the journal or an artifact).
@only_on("postgresql")
@pytest.mark.timeout(1500)
def test_a_night_with_basic_auth_leaves_no_secret_behind(instance, engine):
    database_url = engine.url.set(password=DB_PASSWORD).render_as_string(hide_password=False)
    assert DB_PASSWORD in database_url
    instance.env["PYROS_DATABASE_URL"] = database_url
    instance.env[SERVER_AUTH_ENV] = AUTH
    instance.env.pop(CLIENT_AUTH_ENV, None)  # our processes take the server's string themselves
    instance.env["GCN_KAFKA_CLIENT_ID"] = "pyros-test-client"
    instance.env["GCN_KAFKA_CLIENT_SECRET"] = KAFKA_SECRET
    result = instance.pyros(
        # The test site's own 64-pixel sensors (--frame-px 0): the night's frames are not the
        # point here, their flows through an authenticated API are. A minute of wall time in the
        # span: a cut-short night's blocks stop at its end, and a block takes about 10 wall
        # seconds to start (CI, 2026-12-07: half an hour at 120x, 15 wall seconds, and the one
        # block that started in it executed nothing before the rain).
        "night", "--simulate", "--speed", "60", "--hours", "1", "--frame-px", "0", "--json",
        timeout=1200,
    )  # fmt: skip
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["flow_runs_failed"] == 0 and summary["flow_runs_crashed"] == 0, summary
    assert summary["images"] > 0, summary  # the night's flows ran through the worker

    api = f"http://127.0.0.1:{instance.prefect_port}/api"
    assert _status(f"{api}/flow_runs/filter") == 401
    assert _status(f"{api}/flow_runs/filter", auth="pyros-operator:wrong") == 401
    assert _status(f"{api}/flow_runs/filter", auth=AUTH) == 200

    instance.pyros("down", timeout=120)  # everything flushed to disk before the scan
    assert _files_holding_a_secret(instance.home) == []
    assert _rows_holding_a_secret(engine) == []
    assert result.stdout.count("s3cret") == result.stderr.count("s3cret") == 0
