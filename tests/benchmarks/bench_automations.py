"""Events that steer the night, on a real stack (``pyros up`` at 10x, docs/events.md): the
wall seconds from the monitor's death to the operator notice and the supervisor's answer, from
``pyros.weather.safe`` to the next block running, from a block's killed process to Crashed and
to a new block running. The scenario is the integration test's
(``tests/integration/test_automations.py``); the stack is taken down and its home removed."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from infra.db import get_engine
from tests.benchmarks.common import emit, machine
from tests.integration.test_automations import run_scenario
from tests.support.stack_instance import Instance
from tests.support.stack_site import write_site_with_free_ports


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="pyros-bench-automations-")) / "home"
    home.mkdir()
    ports = write_site_with_free_ports(home / "site.toml")
    env = {**os.environ, "PYROS_HOME": str(home), "PREFECT_HOME": str(home / "prefect")}
    for name in ("PREFECT_API_URL", "PYROS_SITE_CONFIG", "PYROS_DATABASE_URL", "PYROS_CLOCK"):
        env.pop(name, None)
    env["PYROS_DATABASE_URL"] = f"sqlite:///{home / 'pyros.db'}"
    os.environ.update(
        {"PYROS_HOME": env["PYROS_HOME"], "PYROS_DATABASE_URL": env["PYROS_DATABASE_URL"]}
    )
    instance = Instance(home, env, ports.prefect, ports.devices, ports.gateways)
    try:
        figures = run_scenario(instance, get_engine())
        load = os.getloadavg()[0]
        emit("automations", **figures, load_average_1min=round(load, 2), **machine())
    finally:
        instance.pyros("down", check=False, timeout=120)
        shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
