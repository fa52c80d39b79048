"""The integration tier: real Prefect servers and workers started by ``pyros up``."""

from __future__ import annotations

from tests.support.stack_instance import DEVICES, Instance, instance

__all__ = ["DEVICES", "Instance", "instance"]
