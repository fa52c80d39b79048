"""Calibration test fixtures (see fixtures.py)."""

from tests.tasks.calibration.fixtures import bank, flat_bank

__all__ = ["bank", "flat_bank"]
