"""Fixtures of the manual-control tests: the device fixtures (fake devices behind real gateways)."""

from tests.devices.conftest import controller_for, fake_device, gateway_for  # noqa: F401
