"""Calibration test fixtures (see fixtures.py) and the device fixtures (fake devices behind real
gateways) for the camera acquisition."""

from tests.devices.conftest import controller_for, fake_device, gateway_for
from tests.tasks.calibration.fixtures import bank, flat_bank

__all__ = ["bank", "controller_for", "fake_device", "flat_bank", "gateway_for"]
