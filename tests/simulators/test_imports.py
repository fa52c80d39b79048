"""``simulators/`` never imports ``flows/`` or ``tasks/`` (DESIGN §1), nor Prefect."""

from __future__ import annotations

from tests.support.imports import loaded_by_importing, static_imports_of


def test_no_module_of_simulators_imports_flows_tasks_or_prefect():
    assert static_imports_of("simulators") == []


def test_running_the_simulators_loads_no_flows_tasks_or_prefect():
    modules = ["simulators.simulator_run", "simulators.control", "app.cli.simulatorscmd"]
    assert loaded_by_importing(modules) == "[]"
