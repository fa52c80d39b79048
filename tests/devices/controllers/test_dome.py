"""The dome controller: open, close, abort, typed state."""

from __future__ import annotations

import pytest

from devices.controllers import ShutterState
from devices.errors import CommandRefused


def test_open_close_and_abort_the_shutter(fake_device, gateway_for, controller_for):
    fake = fake_device("dome", move_s=0.05)
    dome = controller_for(gateway_for("dome", fake))
    assert dome.status().shutter is ShutterState.CLOSED
    with pytest.raises(CommandRefused, match="OPEN needs the lease"):
        dome.open()
    with dome.claim("environment-monitor", "safety"):
        assert dome.open().moving
        assert dome.wait_until_idle().shutter is ShutterState.OPEN
        assert dome.close(wait=True).shutter is ShutterState.CLOSED
        dome.open()
        state = dome.abort()
        assert state.shutter is ShutterState.STOPPED and state.open_percent == 50.0
    assert dome.default_timeout_s() == 2 * 30.0 + 30.0
