"""``pyros up`` on a site whose devices are on INDI starts none of PyROS's simulators."""

from __future__ import annotations

import tomllib

from app.stack import plan_stack
from infra.config import DEFAULT_CONFIG_PATH, parse_config
from infra.settings import load_settings


def test_a_site_on_indi_runs_gateways_and_no_simulators():
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    for name, device in (("mount", "Telescope Simulator"), ("dome", "Dome Simulator")):
        data["devices"][name] = {
            "host": "127.0.0.1", "port": 7624, "driver": "indi", "indi_device": device,
        }  # fmt: skip
    plan = plan_stack(load_settings(), parse_config(data))
    names = [spec.name for spec in plan.specs]
    assert "simulators" not in names and names[0] == "gateways"
    assert not any(port.startswith("simulator ") for port in plan.ports)
