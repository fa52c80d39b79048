"""Safe by default: a device simulator serves loopback peers only, unless configured."""

from __future__ import annotations

import ipaddress

from infra.clock import SystemClock
from simulators.observatory import Observatory
from simulators.plc import PlcSimulator
from tests.support.peers import exchange, own_address
from tests.support.rig import DEVICES, site_config


def _plc(allowed: tuple[str, ...] = ()) -> PlcSimulator:
    plc = PlcSimulator("plc", "0.0.0.0", 0, SystemClock())
    plc.allow_peers(tuple(ipaddress.ip_network(n) for n in allowed)).start()
    return plc


def test_a_simulator_refuses_a_non_loopback_peer_and_serves_loopback():
    address = own_address()
    plc = _plc()
    try:
        port = plc.address[1]
        assert exchange(address, port) == b""
        assert exchange("127.0.0.1", port) != b""  # an error reply for a bad line: served
    finally:
        plc.stop()


def test_a_simulator_serves_an_allowed_network():
    address = own_address()
    plc = _plc((f"{address}/32",))
    try:
        assert exchange(address, plc.address[1]) != b""
    finally:
        plc.stop()


def test_the_observatory_gives_each_simulator_the_configured_networks(tmp_path):
    config = site_config(sections={"security": {"allowed_peers": ["192.0.2.0/24"]}})
    observatory = Observatory(config, frames_dir=tmp_path, ports=dict.fromkeys(DEVICES, 0))
    expected = (ipaddress.ip_network("192.0.2.0/24"),)
    assert all(d._server.allowed_peers == expected for d in observatory.devices.values())
    default = Observatory(site_config(), frames_dir=tmp_path, ports=dict.fromkeys(DEVICES, 0))
    assert all(d._server.allowed_peers == () for d in default.devices.values())
