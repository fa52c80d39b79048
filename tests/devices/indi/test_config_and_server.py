"""The ``driver = "indi"`` configuration, and one gateway against a real ``indiserver``."""

from __future__ import annotations

import pytest

from devices.controllers.mount import MountMotion
from devices.gateway.fleet import build_gateway
from infra.config import ConfigError, get_config, parse_config
from tests.devices.helpers import sky_position
from tests.support.indi import IndiServer, indi_missing, indi_site
from tests.support.indi_gateways import indi_devices


def _with_devices(**devices: dict[str, object]):
    data = get_config().model_dump(mode="json")
    for name, endpoint in devices.items():
        data["devices"][name] = endpoint
    return parse_config(data)


def test_indi_devices_share_a_server_but_not_a_device():
    indi = {"host": "10.0.0.5", "port": 7624, "driver": "indi"}
    config = _with_devices(
        mount={**indi, "indi_device": "EQMod Mount"},
        dome={**indi, "indi_device": "Dome Scripting Gateway"},
    )
    assert config.devices.mount.driver == "indi" and config.devices.plc.driver == "pyros"
    with pytest.raises(ConfigError, match="both INDI device 'EQMod Mount'"):
        _with_devices(
            mount={**indi, "indi_device": "EQMod Mount"},
            dome={**indi, "indi_device": "EQMod Mount"},
        )


def test_an_indi_device_needs_its_name():
    with pytest.raises(ConfigError, match=r"devices\.mount: .*needs indi_device"):
        _with_devices(mount={"host": "127.0.0.1", "port": 7624, "driver": "indi"})
    with pytest.raises(ConfigError, match=r"devices\.mount\.driver"):
        _with_devices(mount={"host": "127.0.0.1", "port": 7624, "driver": "ascom"})


def test_the_fleet_builds_an_indi_gateway_from_the_configuration():
    config = indi_site(7624)
    gateway = build_gateway("mount", config)
    assert type(gateway._upstream).__name__ == "IndiUpstream"
    assert type(build_gateway("camera_nir", config)._upstream).__name__ == "NdjsonClient"


@pytest.mark.skipif(indi_missing() is not None, reason=str(indi_missing()))
def test_a_gateway_drives_the_indi_telescope_simulator(tmp_path):
    with IndiServer(("indi_simulator_telescope",)) as server:
        config = indi_site(server.port)
        with indi_devices(config, tmp_path, ("mount",)) as (gateways, controller):
            mount = controller("mount")
            assert mount.status().motion in set(MountMotion)
            assert gateways["mount"].health.snapshot()["state"] == "up"
            ra, dec = sky_position(60.0, 180.0)
            with mount.claim("night", "routine"):
                state = mount.goto(ra, dec)
                assert state.motion is MountMotion.SLEWING
                assert state.target_ra_deg == pytest.approx(ra)
                assert mount.abort().motion is MountMotion.IDLE
