"""The integration tier: real Prefect servers and workers started by ``pyros up``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.config import DEFAULT_CONFIG_PATH
from tests.support.ports import free_port

DEVICES = ("mount", "camera_vis", "camera_nir", "plc", "dome")


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
        result = subprocess.run(
            [sys.executable, "-m", "infra.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"pyros {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result


@pytest.fixture
def instance(tmp_path, engine) -> Iterator[Instance]:
    """A stack home with a free Prefect port; the stack is always taken down afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    device_ports = {name: free_port() for name in DEVICES}
    gateway_ports = {name: free_port() for name in DEVICES}
    site = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").replace(
        "prefect_port = 4200", f"prefect_port = {port}"
    )
    # The simulators and gateways `pyros up` starts: free ports, never the stack's fixed ones.
    for name, default in zip(DEVICES, range(5000, 5005), strict=True):
        section = f'[devices.{name}]\nhost = "127.0.0.1"\nport = '
        site = site.replace(f"{section}{default}", f"{section}{device_ports[name]}")
        site = site.replace(f"{name} = {default + 100}\n", f"{name} = {gateway_ports[name]}\n")
    site = re.sub(r"(?m)^(width|height) = \d+", r"\1 = 64", site)
    (home / "site.toml").write_text(site, encoding="utf-8")
    env = {**os.environ, "PYROS_HOME": str(home)}
    for name in ("PREFECT_API_URL", "PYROS_SITE_CONFIG"):
        env.pop(name, None)
    env["PREFECT_HOME"] = str(home / "prefect")
    stack = Instance(
        home=home,
        env=env,
        prefect_port=port,
        device_ports=device_ports,
        gateway_ports=gateway_ports,
    )
    yield stack
    stack.pyros("down", check=False, timeout=120)
