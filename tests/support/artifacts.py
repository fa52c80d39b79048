"""Reading a stack's control-room artifacts back through its Prefect API (integration tests)."""

from __future__ import annotations

import json
import subprocess
import sys

_READ = """
import json
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
with get_client(sync_client=True) as c:
    found = c.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=PREFIX)), limit=200
    )
    print(json.dumps([
        {"key": a.key, "type": a.type, "data": a.data, "description": a.description,
         "created": a.created.isoformat() if a.created else ""}
        for a in found
    ]))
"""


def stack_artifacts(instance, prefix: str = "pyros-") -> list[dict]:
    """Every artifact of the instance's Prefect server whose key starts with ``prefix`` (read in
    a child process: the test's own Prefect settings point elsewhere)."""
    env = {**instance.env, "PREFECT_API_URL": f"http://127.0.0.1:{instance.prefect_port}/api"}
    result = subprocess.run(
        [sys.executable, "-c", _READ.replace("PREFIX", json.dumps(prefix))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def artifact_table(artifact: dict) -> list[dict]:
    """A table artifact's rows."""
    data = artifact["data"]
    return json.loads(data) if isinstance(data, str) else data
