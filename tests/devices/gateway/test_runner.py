"""Starting the configured gateways (what ``pyros gateways start`` and ``pyros up`` call)."""

from __future__ import annotations

import socket
import tomllib

import pytest

from devices.client import NdjsonClient
from devices.gateway import GatewayStartError, start_gateways
from devices.gateway.fleet import device_names
from infra.config import parse_config
from tests.devices.helpers import site_toml
from tests.support.ports import free_port
from tests.support.waiting import eventually

DEVICES = ["mount", "camera_vis", "camera_nir", "plc", "dome"]
KINDS = {"mount": "mount", "camera_vis": "camera", "camera_nir": "camera", "plc": "plc",
         "dome": "dome"}  # fmt: skip


@pytest.fixture
def fakes(fake_device):
    return {name: fake_device(KINDS[name]) for name in DEVICES}


def _config(fakes, gateway_ports):
    text = site_toml({n: f.port for n, f in fakes.items()}, gateway_ports)
    return parse_config(tomllib.loads(text))


def test_every_configured_device_gets_its_gateway(fakes):
    ports = {name: free_port() for name in DEVICES}
    config = _config(fakes, ports)
    assert device_names(config) == DEVICES
    with start_gateways(config=config, use_database=False) as gateways:
        for name in DEVICES:
            assert gateways[name].address == ("127.0.0.1", ports[name])
            with NdjsonClient("127.0.0.1", ports[name], name=name, timeout_s=2) as client:
                status = eventually(lambda c=client: c.call("STATUS"), within_s=5, what=name)
                assert status["gateway"]["device"] == name
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ports["mount"]), timeout=1).close()


def test_a_subset_and_unknown_names(fakes):
    config = _config(fakes, {name: free_port() for name in DEVICES})
    with start_gateways(["plc", "plc"], config=config, use_database=False) as gateways:
        assert [g.device for g in gateways.gateways] == ["plc"]
    with pytest.raises(GatewayStartError, match="unknown device\\(s\\) telescope: configured are"):
        start_gateways(["telescope"], config=config, use_database=False)


def test_a_port_in_use_is_a_clear_error_and_nothing_is_left_running(fakes):
    ports = {name: free_port() for name in DEVICES}
    config = _config(fakes, ports)
    busy = f"cannot listen on 127.0.0.1:{ports['plc']}"
    with (
        socket.create_server(("127.0.0.1", ports["plc"])),
        pytest.raises(GatewayStartError, match=busy),
    ):
        start_gateways(config=config, use_database=False)
    # The gateways started before the failure were stopped again.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ports["mount"]), timeout=1).close()
