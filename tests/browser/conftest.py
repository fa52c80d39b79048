"""The browser tier: the control room in headless Chromium on a stack of the test's own."""

from __future__ import annotations

from tests.support.stack_instance import Instance, instance, prefect_template

__all__ = ["Instance", "instance", "prefect_template"]
