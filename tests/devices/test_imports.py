"""``devices/`` stands on ``infra/`` only: no Prefect, no flows, no tasks (DESIGN §1)."""

from __future__ import annotations

from tests.support.imports import loaded_by_importing, static_imports_of


def test_no_module_of_devices_imports_prefect_flows_or_tasks():
    assert static_imports_of("devices") == []


def test_importing_every_device_module_loads_no_prefect():
    modules = ["devices.controllers", "devices.gateway", "devices.gateway.fleet"]
    assert loaded_by_importing(modules) == "[]"
