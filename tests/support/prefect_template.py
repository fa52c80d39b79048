"""A Prefect database made once per test session, copied into each stack's Prefect home.

A stack started on an empty Prefect home spends 7 s migrating Prefect's database and 15 s applying
the 28 deployments: a third of the stack tier's fixed cost, paid by every test with a stack of
its own. The template is what ``pyros up`` leaves there: the database migrated, the work pool, the
``telescope`` limit, the deployments and their fingerprint (``app.prefect_bootstrap``). Each
stack's own bootstrap still runs and finds the deployments unchanged, or applies them again when
its site reads other templates' values. The template holds none of PyROS's ``pyros:`` automations
(each stack creates its own: a copied automation's time windows would have started in the
template's past; the deployments' own triggers, made by ``prefect deploy``, stay: the bootstrap
does not make them when it skips the deploy), no flow run and no active calendar schedule.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.stack_site import write_site_with_free_ports
from tests.support.waiting import wait_until

#: Prefect's SQLite database in a Prefect home (and its write-ahead log when there is one).
DATABASE_FILES = ("prefect.db", "prefect.db-wal", "prefect.db-shm")

CLEAN = """
from prefect.client.orchestration import get_client
from app.automations import PREFIX
from app.prefect_bootstrap import set_calendar_schedules
with get_client(sync_client=True) as client:
    for automation in client.read_automations():
        if automation.name.startswith(PREFIX):  # not the deployments' triggers: prefect deploy's
            client.delete_automation(automation.id)
    set_calendar_schedules(client, active=False)
    assert not client.read_flow_runs(limit=1), "the template must hold no flow run"
"""


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def build_template(root: Path) -> Path:
    """Make the template Prefect home under ``root``; returns that home."""
    home = root / "home"
    home.mkdir(parents=True)
    write_site_with_free_ports(home / "site.toml")
    prefect_home = home / "prefect"
    env = {**os.environ, "PYROS_HOME": str(home), "PREFECT_HOME": str(prefect_home)}
    env.pop("PYROS_SITE_CONFIG", None)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    # No scheduler: the deployments' calendar schedule must not create runs in the template.
    server_env = {**env, "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"}
    server_env.pop("PREFECT_API_URL", None)
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port)],
        env=server_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        up = wait_until(lambda: _healthy(f"{api}/health"), timeout_s=120, step_s=0.2)
        assert up, f"the template's Prefect server did not answer: see {root / 'server.log'}"
        client_env = {**env, "PREFECT_API_URL": api}
        for argv in (["-m", "app.prefect_bootstrap"], ["-c", CLEAN]):
            done = subprocess.run(
                [sys.executable, *argv], env=client_env, capture_output=True, text=True,
                timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    return prefect_home


def copy_template(template: Path, prefect_home: Path) -> None:
    """Put the template's database into a new stack's Prefect home."""
    prefect_home.mkdir(parents=True, exist_ok=False)
    for name in DATABASE_FILES:
        if (template / name).exists():
            shutil.copy2(template / name, prefect_home / name)


@pytest.fixture(scope="session")
def prefect_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's template Prefect home (built by the first test that needs it)."""
    return build_template(tmp_path_factory.mktemp("prefect-template"))
