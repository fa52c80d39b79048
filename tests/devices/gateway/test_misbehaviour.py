"""A device that answers garbage, truncated, oversized or slow replies, behind a gateway.

The client asking gets a clear exception from the gateway (whose device timeout, 1 s, is shorter
than the client's, 5 s: a message saying "within 1 s" came from the gateway, in time), and the
gateway keeps serving other clients meanwhile and afterwards.
"""

from __future__ import annotations

import re
import threading

import pytest

from devices.errors import DeviceProblem, DeviceTimeout, ProtocolError
from tests.support.waiting import eventually

CASES = [
    ("garbage", ProtocolError, r"mount: bad reply: not JSON"),
    ("oversized", ProtocolError, r"mount: reply line longer than 1048576 bytes refused"),
    (
        "truncated",
        DeviceTimeout,
        r"no reply to STATUS within 1 s \(\d+ bytes of an unterminated",
    ),
    (
        "truncated_close",
        ProtocolError,
        r"mount: truncated reply: connection closed after \d+ bytes",
    ),
    ("slow", DeviceTimeout, r"mount: no reply to STATUS within 1 s"),
]


@pytest.fixture
def short_timeout(fake_device, gateway_for, controller_for):
    """A fake mount behind a gateway whose device timeout is 1 s."""
    fake = fake_device("mount")
    gateway = gateway_for("mount", fake, device_timeout_s=1.0)
    return fake, gateway, lambda: controller_for(gateway)


@pytest.mark.parametrize(("mode", "kind", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_misbehaving_reply_is_a_clear_error_and_the_gateway_keeps_serving(
    mode, kind, message, short_timeout
):
    fake, gateway, make_mount = short_timeout
    victim, other = make_mount(), make_mount()
    eventually(victim.status, within_s=5, what="device reachable")
    fake.misbehave(mode, names=["STATUS"], delay_s=2.5)
    outcome: dict[str, BaseException] = {}

    def ask() -> None:
        try:
            victim.status()
        except DeviceProblem as problem:
            outcome["problem"] = problem

    asking = threading.Thread(target=ask)
    asking.start()
    # Meanwhile another client is served by the gateway (lease and health need no device).
    with other.claim("operator", "operator", wait_s=0) as lease:
        assert other.lease_info().owner == "operator" and not lease.lost
        assert other.health().device == "mount"
    asking.join(timeout=10)
    problem = outcome.get("problem")
    assert type(problem) is kind, f"{mode}: got {problem!r}"
    assert problem.device == "mount"
    assert re.search(message, problem.message), problem.message
    # And afterwards the device is served again, to everyone.
    assert eventually(other.status, within_s=5, what="served again").motion.value == "idle"
    assert eventually(victim.status, within_s=5, what="served again")
    assert gateway.health.snapshot()["last_error"]


def test_a_silent_device_resets_its_connection_after_three_timeouts(short_timeout):
    fake, gateway, make_mount = short_timeout
    mount = make_mount()
    eventually(mount.status, within_s=5, what="device reachable")
    fake.misbehave("silent", count=3, names=["STATUS"])
    for _ in range(3):
        with pytest.raises(DeviceTimeout, match=r"within 1 s"):
            mount.status()
    assert eventually(mount.status, within_s=5, what="reconnected")
    assert gateway.health.connects == 2 and gateway.health.timeouts == 3
