"""Fixtures of the control-room tests."""

from tests.tasks.alerts.conftest import voevents  # noqa: F401
