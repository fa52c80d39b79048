"""The mount controller: typed state, the horizon check, slews, park, tracking, abort."""

from __future__ import annotations

import pytest

from devices.controllers import MountMotion, connect_mount
from devices.errors import LIMIT, CommandRefused, DeviceTimeout
from infra.config import get_config
from tests.devices.helpers import sky_position


@pytest.fixture
def mount(fake_device, gateway_for, controller_for, sim_clock):
    fake = fake_device("mount")
    mount = controller_for(gateway_for("mount", fake), clock=sim_clock)
    mount.claim("tester", "operator")
    return fake, mount


@pytest.mark.parametrize("altitude", [-30.0, 0.0, 14.9])
def test_a_goto_below_the_horizon_limit_is_refused_before_reaching_the_mount(mount, altitude):
    fake, controller = mount
    with pytest.raises(CommandRefused) as caught:
        controller.goto(*sky_position(altitude, 200.0))
    assert caught.value.code == LIMIT and "below the horizon limit 15°" in caught.value.message
    assert caught.value.detail["alt_deg"] == pytest.approx(altitude, abs=0.01)
    assert fake.received("GOTO") == []


@pytest.mark.parametrize(("ra", "dec"), [(10.0, 90.5), (float("nan"), 0.0), (1.0, -91.0)])
def test_impossible_coordinates_are_refused(mount, ra, dec):
    with pytest.raises(CommandRefused, match="out of range"):
        mount[1].goto(ra, dec)


def test_a_goto_above_the_limit_slews_then_tracks(mount):
    _fake, controller = mount
    ra, dec = sky_position(15.5, 100.0)
    accepted = controller.goto(ra + 360.0, dec)  # RA is taken modulo 360
    assert accepted.motion is MountMotion.SLEWING and accepted.moving
    state = controller.wait_until_idle()
    assert state.motion is MountMotion.TRACKING and state.tracking
    assert (state.ra_deg, state.dec_deg) == pytest.approx((ra, dec))
    assert state.gateway.lease.owner == "tester"


def test_park_tracking_and_abort(mount):
    _fake, controller = mount
    assert controller.park(wait=True).motion is MountMotion.PARKED
    controller.goto(*sky_position(), wait=True)
    assert controller.set_tracking(False).motion is MountMotion.IDLE
    assert controller.set_tracking(True).tracking
    controller.goto(*sky_position(50.0, 10.0))
    assert controller.abort().motion is MountMotion.IDLE


def test_waiting_longer_than_the_timeout_is_a_device_timeout(
    fake_device, gateway_for, controller_for, sim_clock
):
    fake = fake_device("mount", move_s=30.0)
    controller = controller_for(gateway_for("mount", fake), clock=sim_clock)
    with controller.claim("tester", "routine"):
        controller.goto(*sky_position())
        with pytest.raises(DeviceTimeout, match="slew not done within 1 s"):
            controller.wait_until_idle(timeout_s=1.0)


def test_connect_mount_reads_the_gateway_address_and_timeouts_from_the_configuration():
    config = get_config()
    mount = connect_mount(config, address=("127.0.0.1", 1))
    try:
        settings = mount._link.settings
        assert (
            settings.timeout_s == config.devices.mount.timeout_s + config.gateways.request_margin_s
        )
        assert settings.heartbeat_s == config.gateways.heartbeat_s
        assert mount.default_timeout_s() == pytest.approx(360 / 9.0 + 1.0 + 30.0)
    finally:
        mount.disconnect()


def test_a_lease_taken_by_a_higher_claim_is_known_lost_when_confirmed(
    fake_device, gateway_for, controller_for
):
    """``confirm`` asks the gateway: the loss is known at once, not at the next heartbeat (here
    minutes away), and a lease that holds is confirmed."""
    from dataclasses import replace

    from tests.devices.conftest import TEST_LINK

    gateway = gateway_for("mount", fake_device("mount"), lease_ttl_s=600.0)
    slow = replace(TEST_LINK, heartbeat_s=300.0)
    night, reflex = controller_for(gateway, settings=slow), controller_for(gateway)
    lease = night.claim("night", "routine")
    assert lease.confirm() and not lease.lost
    reflex.claim("environment-monitor", "safety")
    assert not lease.lost  # the heartbeat has not run
    assert not lease.confirm()
    assert lease.lost and "environment-monitor" in str(lease.problem)
