"""Safe by default: a device listener serves loopback peers, refuses the others unless their
network is allowed ([security] allowed_peers), and names a refused peer in one log line."""

from __future__ import annotations

import ipaddress
import logging
import tomllib

import pytest

from devices.gateway import Gateway, GatewayTiming
from devices.gateway.fleet import build_gateway
from devices.server import LineServer
from infra.config import DEFAULT_CONFIG_PATH, parse_config
from infra.config_security import peer_allowed
from tests.support.peers import exchange, own_address


def _echo(_connection, line):
    return b"ok\n"


@pytest.mark.parametrize(
    ("peer", "allowed", "served"),
    [
        ("127.0.0.1", (), True),
        ("127.8.9.10", (), True),
        ("::1", (), True),
        ("::ffff:127.0.0.1", (), True),
        ("192.0.2.7", (), False),
        ("10.1.2.3", (), False),
        ("2001:db8::5", (), False),
        ("192.0.2.7", ("192.0.2.0/24",), True),
        ("::ffff:192.0.2.7", ("192.0.2.0/24",), True),
        ("192.0.3.7", ("192.0.2.0/24",), False),
        ("2001:db8::5", ("2001:db8::/32",), True),
        ("not-an-address", ("0.0.0.0/0",), False),
    ],
)
def test_the_peer_decision(peer, allowed, served):
    networks = tuple(ipaddress.ip_network(n) for n in allowed)
    assert peer_allowed(peer, networks) is served


def test_a_loopback_peer_is_served():
    server = LineServer("127.0.0.1", 0, _echo, name="test-peers").start()
    try:
        assert exchange("127.0.0.1", server.port) == b"ok\n"
    finally:
        server.stop()


def test_a_non_loopback_peer_is_refused_and_named(caplog):
    address = own_address()
    server = LineServer("0.0.0.0", 0, _echo, name="test-peers").start()
    try:
        with caplog.at_level(logging.WARNING, logger="devices.server"):
            assert exchange(address, server.port) == b""
        refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert len(refusals) == 1
        assert f"test-peers: refused a connection from {address}:" in refusals[0]
        assert exchange("127.0.0.1", server.port) == b"ok\n"  # loopback still served
    finally:
        server.stop()


def test_an_allowed_network_is_served():
    address = own_address()
    server = LineServer("0.0.0.0", 0, _echo, name="test-peers")
    server.allowed_peers = (ipaddress.ip_network(f"{address}/32"),)
    server.start()
    try:
        assert exchange(address, server.port) == b"ok\n"
    finally:
        server.stop()


def _gateway(allowed: tuple[str, ...] = ()) -> Gateway:
    gateway = Gateway(
        "mount",
        upstream=("127.0.0.1", 9),  # nothing there: the gateway answers for itself
        listen=("0.0.0.0", 0),
        timing=GatewayTiming(device_timeout_s=1.0, health_poll_s=0.0, reconnect_max_s=0.2),
    )
    return gateway.allow_peers(tuple(ipaddress.ip_network(n) for n in allowed)).start()


def test_a_gateway_refuses_a_non_loopback_peer_and_serves_loopback():
    address = own_address()
    gateway = _gateway()
    try:
        port = gateway.address[1]
        assert exchange(address, port) == b""
        assert exchange("127.0.0.1", port) != b""  # an error reply for a bad line: served
    finally:
        gateway.stop()


def test_a_gateway_serves_an_allowed_network():
    address = own_address()
    gateway = _gateway((f"{address}/32",))
    try:
        assert exchange(address, gateway.address[1]) != b""
    finally:
        gateway.stop()


def test_the_fleet_gives_each_gateway_the_configured_networks():
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    assert build_gateway("dome", parse_config(data))._server.allowed_peers == ()
    data["security"] = {"allowed_peers": ["192.0.2.0/24"]}
    gateway = build_gateway("dome", parse_config(data))
    assert gateway._server.allowed_peers == (ipaddress.ip_network("192.0.2.0/24"),)
