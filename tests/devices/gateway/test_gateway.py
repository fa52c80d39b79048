"""A gateway in front of a fake device: every command round-trips, the lease rules hold."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from devices.client import NdjsonClient
from devices.commands import DEVICE_COMMANDS, GATEWAY_COMMANDS, DeviceKind, kind_of
from devices.errors import (
    LEASE_REQUIRED,
    CommandRefused,
    DeviceDisconnected,
    DeviceError,
    LeaseRefused,
    Preempted,
)
from devices.framing import LineFramer
from tests.devices.helpers import sky_position
from tests.support.waiting import eventually

SAMPLES = {
    DeviceKind.MOUNT: [
        {"name": "GOTO", "ra_deg": 10.0, "dec_deg": 20.0},
        {"name": "TRACKING", "on": False},
        {"name": "PARK"},
        {"name": "ABORT"},
    ],
    DeviceKind.DOME: [{"name": "OPEN"}, {"name": "ABORT"}, {"name": "CLOSE"}],
    DeviceKind.CAMERA: [
        {"name": "SET_FILTER", "filter": "r"},
        {"name": "ABORT"},
        {"name": "EXPOSE", "exposure_s": 0.0, "image_type": "bias", "frame_id": "f1"},
    ],
    DeviceKind.PLC: [{"name": "SWITCH", "switch": "lights", "on": True}, {"name": "SWITCHES"}],
    DeviceKind.LAMP: [{"name": "LIGHT", "on": True, "intensity": 40.0}],
}


@pytest.fixture
def raw_client():
    clients: list[NdjsonClient] = []

    def make(gateway) -> NdjsonClient:
        client = NdjsonClient(*gateway.address, name=f"gw-{gateway.device}", timeout_s=3.0)
        clients.append(client.start())
        return client

    yield make
    for client in clients:
        client.close()


@pytest.mark.parametrize("device", ["mount", "dome", "camera_vis", "plc", "lamp"])
def test_every_command_round_trips_through_a_gateway(device, fake_device, gateway_for, raw_client):
    kind = kind_of(device)
    fake = fake_device(kind.value)
    gateway = gateway_for(device, fake)
    client = raw_client(gateway)
    covered = {"STATUS", "CLAIM", "HEARTBEAT", "LEASE", "HEALTH", "RELEASE"}

    status = eventually(lambda: client.call("STATUS"), within_s=5, what="device reachable")
    assert status["gateway"]["health"]["connected"] is True
    claim = client.call("CLAIM", {"owner": "tester", "priority": "operator"})
    epoch = claim["epoch"]
    assert claim["lease"]["owner"] == "tester" and claim["reason"] == "free"
    assert client.call("HEARTBEAT", owner="tester", epoch=epoch)["lease"]["epoch"] == epoch
    for item in SAMPLES[kind]:
        reply = client.call(item["name"], {k: v for k, v in item.items() if k != "name"},
                            owner="tester", epoch=epoch)  # fmt: skip
        assert reply["name"] == item["name"] and "error" not in reply
        received = fake.received(item["name"])[-1].line
        assert received["command"] == [item]
        if item["name"] != "SWITCHES":
            assert (received["owner"], received["epoch"]) == ("tester", epoch)
        covered.add(item["name"])
    assert client.call("LEASE")["lease"]["owner"] == "tester"
    assert client.call("HEALTH")["health"]["device"] == device
    assert client.call("RELEASE", owner="tester", epoch=epoch)["lease"]["owner"] is None
    assert covered == set(DEVICE_COMMANDS[kind]) | set(GATEWAY_COMMANDS)


def test_the_seed_plc_status_goes_through_unchanged(seed_dir, fake_device, gateway_for):
    seed_reply = json.loads((seed_dir / "plc_status_reply.json").read_text())
    fake = fake_device("plc", plc_status=seed_reply[0])
    gateway = gateway_for("plc", fake)
    command = (seed_dir / "plc_status_command.json").read_bytes().strip() + b"\n"
    with socket.create_connection(gateway.address, timeout=5) as sock:
        direct = _exchange(("127.0.0.1", fake.port), command)
        assert direct == seed_reply  # the device speaks exactly the seed's format
        reply = eventually(lambda: _ok_reply(sock, command), within_s=5, what="PLC reachable")
    assert len(reply) == 1 and reply[0].pop("gateway")["device"] == "plc"
    assert reply == seed_reply  # through the gateway: the same, plus its "gateway" member


def _exchange(address, data: bytes) -> list:
    with socket.create_connection(address, timeout=5) as sock:
        return _send(sock, data)


def _send(sock: socket.socket, data: bytes) -> list:
    sock.sendall(data)
    framer = LineFramer()
    while True:
        lines = framer.feed(sock.recv(65536))
        if lines:
            return json.loads(lines[0])


def _ok_reply(sock, data):
    reply = _send(sock, data)
    return reply if "error" not in reply[0] else None


def test_bad_lines_from_a_client_get_error_replies_on_the_same_connection(fake_device, gateway_for):
    gateway = gateway_for("dome", fake_device("dome"))
    with socket.create_connection(gateway.address, timeout=5) as sock:
        cases = [
            (b"this is not json\n", "bad_json"),
            (b"[1, 2]\n", "bad_command"),
            (b'{"id": "x", "command": [{"name": "FLY"}]}\n', "unknown_command"),
            (b'{"id": 1, "command": [{"name": "OPEN", "speed": 2}]}\n', "bad_argument"),
            (b'{"command": [{"name": "OPEN"}]}\n', LEASE_REQUIRED),
            (b"x" * ((1 << 20) + 10) + b"\n", "line_too_long"),
            (b"[" * 100_000 + b"]" * 100_000 + b"\n", "bad_json"),
        ]
        for data, code in cases:
            reply = _send(sock, data)
            assert reply[0]["error"]["code"] == code, data[:40]
            assert reply[0]["error"]["message"].startswith("dome: ")
        assert _send(sock, b'{"id": 2, "command": [{"name": "LEASE"}]}\n')[0]["id"] == 2


def test_several_commands_on_one_line_get_one_reply_in_order(fake_device, gateway_for):
    gateway = gateway_for("plc", fake_device("plc"))
    with socket.create_connection(gateway.address, timeout=5) as sock:
        line = b'{"id": "m", "command": [{"name": "HEALTH"}, {"name": "LEASE"}, {"name": "NO"}]}\n'
        reply = _send(sock, line)
    assert [item["name"] for item in reply] == ["HEALTH", "LEASE", "NO"]
    assert [item["id"] for item in reply] == ["m"] * 3 and "error" in reply[2]


def test_status_needs_no_lease_and_control_commands_need_one(mount_setup):
    fake, _, make_mount = mount_setup
    mount = make_mount()
    assert mount.status().motion.value == "idle"
    with pytest.raises(CommandRefused, match=r"GOTO needs the lease"):
        mount.goto(*sky_position())
    assert fake.received("GOTO") == []


def test_a_stale_epoch_is_preempted_and_never_reaches_the_device(mount_setup):
    fake, _, make_mount = mount_setup
    routine, alert = make_mount(), make_mount()
    ra, dec = sky_position()
    routine.claim("flow-1", "routine")
    routine.goto(ra, dec)
    alert_lease = alert.claim("alert-listener", "alert")
    assert alert_lease.previous["owner"] == "flow-1" and alert_lease.aborted
    with pytest.raises(Preempted, match=r"stale epoch .* held by alert-listener \(alert\)"):
        routine.goto(ra, dec)
    with pytest.raises(Preempted):  # known locally now: no round trip
        routine.abort()
    gotos = fake.received("GOTO")
    assert [g.owner for g in gotos] == ["flow-1"]
    abort = fake.received("ABORT")[-1]
    assert (abort.owner, abort.epoch, abort.line["reason"]) == (
        "alert-listener", alert_lease.epoch, "preempted",
    )  # fmt: skip


def test_a_higher_claim_aborts_a_slew_in_flight_and_the_waiter_learns_it(
    fake_device, gateway_for, controller_for
):
    fake = fake_device("mount", move_s=30.0)
    gateway = gateway_for("mount", fake)
    routine, alert = controller_for(gateway), controller_for(gateway)
    routine.claim("flow-1", "routine")
    assert routine.goto(*sky_position()).moving
    alert.claim("alert-listener", "alert")
    assert fake.state["state"] == "idle"  # aborted before the claim was granted
    with pytest.raises(Preempted, match=r"preempted by alert-listener \(alert\).*GOTO aborted"):
        routine.wait_until_idle()


def test_an_equal_priority_never_steals_and_waits_for_a_release(mount_setup):
    _, _, make_mount = mount_setup
    first, second = make_mount(), make_mount()
    lease = first.claim("flow-1", "routine")
    with pytest.raises(LeaseRefused, match=r"held by flow-1 \(routine\)"):
        second.claim("flow-2", "routine", wait_s=0.3)
    assert second.lease_info().owner == "flow-1"
    first.goto(*sky_position())  # still ours
    lease.release()
    assert second.claim("flow-2", "routine", wait_s=1.0).previous is None


def test_a_lower_claim_is_refused_while_a_higher_one_holds(mount_setup):
    _, _, make_mount = mount_setup
    alert, operator = make_mount(), make_mount()
    alert.claim("alert-listener", "alert")
    with pytest.raises(LeaseRefused, match=r"held by alert-listener"):
        operator.claim("operator", "operator", wait_s=0.2)


def test_a_dead_holders_lease_lapses_and_its_orphan_is_aborted(
    fake_device, gateway_for, raw_client, controller_for
):
    fake = fake_device("camera")
    gateway = gateway_for("camera_vis", fake)
    dead = raw_client(gateway)  # claims and never heartbeats: a holder that died
    eventually(lambda: dead.call("STATUS"), within_s=5, what="camera reachable")
    grant = dead.call("CLAIM", {"owner": "flow-dead", "priority": "alert", "ttl_s": 0.3})
    dead.call("EXPOSE", {"exposure_s": 1000.0, "image_type": "light"}, owner="flow-dead",
              epoch=grant["epoch"])  # fmt: skip
    camera = controller_for(gateway)
    lease = camera.claim("flow-2", "routine", wait_s=3.0)  # lower priority: waits for the lapse
    assert lease.previous["owner"] == "flow-dead" and lease.aborted
    assert fake.received("ABORT")[-1].owner == "flow-2"
    with pytest.raises(Preempted):
        dead.call("ABORT", owner="flow-dead", epoch=grant["epoch"])
    assert camera.expose(0.0, "bias").path


def test_safety_always_gets_in_also_while_an_alert_holds(mount_setup):
    fake, _, make_mount = mount_setup
    alert, monitor, monitor_2 = make_mount(), make_mount(), make_mount()
    alert.claim("alert-listener", "alert")
    alert.goto(*sky_position())
    safety = monitor.claim("environment-monitor", "safety", wait_s=0)
    assert safety.previous["owner"] == "alert-listener" and safety.aborted
    monitor.park()
    with pytest.raises(Preempted):
        alert.goto(*sky_position())
    aborts = len(fake.received("ABORT"))
    second = monitor_2.claim("environment-monitor-2", "safety", wait_s=0)
    assert second.previous["owner"] == "environment-monitor" and not second.aborted
    assert len(fake.received("ABORT")) == aborts  # safety does not abort safety


def test_heartbeats_keep_a_short_lease_alive(fake_device, gateway_for, controller_for):
    gateway = gateway_for("dome", fake_device("dome", move_s=0.01), lease_ttl_s=0.6)
    dome = controller_for(gateway)
    with dome.claim("environment-monitor", "safety") as lease:  # heartbeat every 0.1 s
        started = time.monotonic()
        while time.monotonic() - started < 2.0:  # over three lifetimes of the lease
            dome.open()
            dome.wait_until_idle()
            dome.close(wait=True)
        assert not lease.lost
    assert dome.lease_info().owner is None


def test_the_device_lost_and_back_shows_in_status_and_health(mount_setup):
    fake, gateway, make_mount = mount_setup
    mount = make_mount()
    assert mount.status().gateway.health.connected
    fake.stop()
    problem = eventually(lambda: _disconnected(mount), within_s=5, what="loss seen")
    # "not connected to ..." or, for a request in flight at the loss, "connection lost (...)".
    assert problem.message.startswith("mount: ") and "connect" in problem.message
    health = mount.health()
    assert not health.connected and health.state == "down" and health.last_error
    fake.start()
    assert eventually(lambda: mount.status(), within_s=5, what="device back")
    assert mount.health().connected and gateway.health.losses == 1


def _disconnected(controller) -> DeviceDisconnected | None:
    try:
        controller.status()
    except DeviceDisconnected as problem:
        return problem
    return None


def test_stopping_a_gateway_refuses_waiting_claims_at_once(mount_setup, controller_for):
    _, gateway, make_mount = mount_setup
    holder, waiter = make_mount(), make_mount()
    holder.claim("flow-1", "alert")
    outcome = {}

    def wait_for_lease():
        try:
            waiter.claim("flow-2", "routine", wait_s=600)
        except Exception as exc:
            outcome["problem"] = exc

    thread = threading.Thread(target=wait_for_lease)
    thread.start()
    eventually(lambda: holder.lease_info() and gateway._arbiter.describe()["waiting"],
               within_s=5, what="claim waiting")  # fmt: skip
    gateway.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert isinstance(outcome["problem"], LeaseRefused | DeviceDisconnected)


def test_a_device_error_reply_keeps_its_code(fake_device, gateway_for, controller_for):
    camera = controller_for(gateway_for("camera_vis", fake_device("camera", time_scale=1.0)))
    camera.claim("flow-1", "routine")
    camera.start_exposure(100.0)
    with pytest.raises(DeviceError) as caught:
        camera.start_exposure(1.0)
    assert caught.value.code == "busy" and caught.value.message.startswith("camera_vis: ")
