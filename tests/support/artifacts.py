"""Reading a stack's control-room artifacts back through its Prefect API (integration tests)."""

from __future__ import annotations

import json
import subprocess
import sys

_READ = """
import json
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort
with get_client(sync_client=True) as c:
    found = c.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=PREFIX)),
        sort=ArtifactSort.CREATED_DESC,
        limit=200,  # the server refuses more
    )
    print(json.dumps([
        {"key": a.key, "type": a.type, "data": a.data, "description": a.description,
         "created": a.created.isoformat() if a.created else ""}
        for a in found
    ]))
"""


def stack_artifacts(instance, prefix: str = "pyros-") -> list[dict]:
    """The artifacts of the instance's Prefect server whose key starts with ``prefix``, newest
    first, at most 200 (read in a child process: the test's own Prefect settings point
    elsewhere). Newest first: the server's default order is by id, a random UUID, so a limited
    read of an artifact updated hundreds of times (one version per update: a follow-up's) missed
    its latest versions at random."""
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
