"""A PyROS stack of its own for a test (the integration and browser tiers): a home with a site file
on free ports and its own Prefect home; ``pyros up`` or ``pyros night`` start it, and it is always
taken down afterwards."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import run_pyros
from tests.support.prefect_template import copy_template, prefect_template
from tests.support.stack_site import DEVICES, write_site_with_free_ports

__all__ = ["DEVICES", "Instance", "instance", "prefect_template"]


@dataclass
class Instance:
    """A PyROS instance of its own: home, site file on free ports, environment."""

    home: Path
    env: dict[str, str]
    prefect_port: int
    device_ports: dict[str, int]
    gateway_ports: dict[str, int]

    def pyros(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess:
        return run_pyros(*args, env=self.env, timeout=timeout, check=check)


@pytest.fixture
def instance(request, tmp_path, engine) -> Iterator[Instance]:
    """A stack home with a free Prefect port; the stack is always taken down afterwards.

    Its cameras take 64-pixel frames unless the test is marked ``site_frame_px(N)`` (``None``:
    the bundled site's own sensors, which a simulated night then samples with ``--frame-px``).
    Its Prefect home starts as the session's template (tests/support/prefect_template.py), or
    empty when the test is marked ``fresh_prefect`` (what a first ``pyros up`` meets).
    """
    home = tmp_path / "home"
    home.mkdir()
    marker = request.node.get_closest_marker("site_frame_px")
    frame_px = marker.args[0] if marker else 64
    ports = write_site_with_free_ports(home / "site.toml", frame_px=frame_px)
    env = {**os.environ, "PYROS_HOME": str(home)}
    for name in ("PREFECT_API_URL", "PYROS_SITE_CONFIG"):
        env.pop(name, None)
    env["PREFECT_HOME"] = str(home / "prefect")
    if request.node.get_closest_marker("fresh_prefect") is None:
        copy_template(request.getfixturevalue("prefect_template"), home / "prefect")
    stack = Instance(
        home=home,
        env=env,
        prefect_port=ports.prefect,
        device_ports=ports.devices,
        gateway_ports=ports.gateways,
    )
    yield stack
    stack.pyros("down", check=False, timeout=120)
