"""The integration tier: real Prefect servers and workers started by ``pyros up``.

``make test-integration`` runs it in two steps. Every test with a stack of its own (the
``instance`` fixture: Prefect server, worker, simulators, a night at 100x) is marked ``stack``.
First the others (brokers, kill points, INDI's real-time simulators: they mostly wait) on two
pytest-xdist workers, then the ``stack`` tests one after the other, alone on the machine: a night
at 100x is CPU-bound (load 7 on 2 cores), and anything beside it makes it fall behind its
simulated clock (CI of 2026-12-05, with the two kinds side by side: a night with a fault executed
2 sequences instead of 9, a killed worker's night none).
"""

from __future__ import annotations

import pytest

from tests.support.stack_instance import DEVICES, Instance, instance, prefect_template

__all__ = ["DEVICES", "Instance", "instance", "prefect_template"]


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects by marker (the mark plugin's own hook)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test using ``instance`` ``stack``."""
    for item in items:
        if "instance" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)
