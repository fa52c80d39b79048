"""The integration tier: real Prefect servers and workers started by ``pyros up``.

``make test-integration`` runs it on two pytest-xdist workers (``--dist loadgroup``): every test
with a stack of its own (the ``instance`` fixture: Prefect server, worker, simulators, a night at
100x) is put in one group, so those run one after the other on one worker, while the other worker
runs the tests that mostly wait (brokers, kill points, INDI's real-time simulators). Two nights at
once on a 2-core machine would each fall behind their simulated clock.
"""

from __future__ import annotations

import pytest

from tests.support.stack_instance import DEVICES, Instance, instance

__all__ = ["DEVICES", "Instance", "instance"]

#: The xdist group of the tests that run a whole stack.
STACK_GROUP = "stack"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (its hook has no order)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put every test using ``instance`` in the stack group."""
    for item in items:
        if "instance" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(STACK_GROUP))
