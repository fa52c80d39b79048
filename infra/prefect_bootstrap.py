"""Apply PyROS's Prefect objects idempotently: the process work pool, the ``telescope`` global
concurrency limit (limit 1), every deployment of ``prefect.yaml``, and the automations.

Run by ``pyros up`` as a one-shot step between the server and the worker
(``python -m infra.prefect_bootstrap``). Running it again changes nothing: deployments are upserted
by name (``prefect deploy``), the limit is upserted, automations are matched by name and
duplicates removed (``Automation.create()`` alone would duplicate them on every start).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from infra.version import REPO_ROOT

log = logging.getLogger("pyros.bootstrap")

WORK_POOL = "pyros"
TELESCOPE_LIMIT = "telescope"


def ensure_work_pool(client) -> str:
    """Create the process work pool unless it exists; returns what was done."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    try:
        client.read_work_pool(WORK_POOL)
        return "exists"
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(name=WORK_POOL, type="process"))
        return "created"


def ensure_concurrency_limits(client) -> None:
    """The ``telescope`` limit (1 slot) that serialises routine telescope flows."""
    client.upsert_global_concurrency_limit_by_name(TELESCOPE_LIMIT, 1)


def deploy_all(repo: Path = REPO_ROOT) -> None:
    """``prefect deploy --all`` from the repository (upserts every deployment by name)."""
    env = {**os.environ, "PYROS_REPO": str(repo)}
    result = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
        raise RuntimeError(f"prefect deploy failed:\n{tail}")


def ensure_automations(client, automations: list) -> list[str]:
    """Create or update each automation by name; delete duplicates of the same name."""
    done = []
    for automation in automations:
        existing = client.read_automations_by_name(automation.name)
        if existing:
            keep, *duplicates = existing
            for duplicate in duplicates:
                client.delete_automation(duplicate.id)
            client.update_automation(keep.id, automation)
            done.append(f"{automation.name}: updated")
        else:
            client.create_automation(automation)
            done.append(f"{automation.name}: created")
    return done


def declared_automations() -> list:
    """The automations PyROS declares (none yet beyond deployment triggers)."""
    return []


def bootstrap(repo: Path = REPO_ROOT) -> dict:
    """Apply everything; returns a summary."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        pool = ensure_work_pool(client)
        ensure_concurrency_limits(client)
    deploy_all(repo)
    with get_client(sync_client=True) as client:
        automations = ensure_automations(client, declared_automations())
    return {"work_pool": pool, "limits": [TELESCOPE_LIMIT], "automations": automations}


def main() -> int:
    """Entry point of the one-shot bootstrap step."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    summary = bootstrap()
    log.info("prefect bootstrap done: %s", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
