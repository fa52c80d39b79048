"""The one client shape, against a fake device: matching, timeouts, reconnection, bad replies."""

from __future__ import annotations

import random
import threading

import pytest

from devices.client import NdjsonClient, ReconnectPolicy, backoff_delay
from devices.errors import DeviceDisconnected, DeviceTimeout, ProtocolError
from tests.support.fake_device import FakeDevice
from tests.support.waiting import eventually, wait_until


@pytest.fixture
def fake(fake_device) -> FakeDevice:
    return fake_device("dome")


@pytest.fixture
def client(fake):
    with NdjsonClient(
        "127.0.0.1", fake.port, name="dome", timeout_s=1.0, reconnect=ReconnectPolicy(0.02, 0.1)
    ) as client:
        yield client


def test_a_request_round_trips_with_its_id(client, fake):
    assert client.call("STATUS")["state"] == "closed"
    sent = fake.received()[-1].line
    assert sent["command"] == [{"name": "STATUS"}] and isinstance(sent["id"], str)


def test_requests_from_many_threads_share_the_connection(client, fake):
    errors: list[BaseException] = []

    def work():
        try:
            for _ in range(50):
                assert client.call("STATUS")["name"] == "STATUS"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and client.connects == 1 and len(fake.received("STATUS")) == 400


def test_envelope_fields_travel_with_the_command(client, fake):
    client.call("OPEN", owner="monitor", epoch=12)
    assert fake.received("OPEN")[-1].line | {"id": None} == {
        "id": None, "command": [{"name": "OPEN"}], "owner": "monitor", "epoch": 12,
    }  # fmt: skip


def test_the_client_may_start_before_its_server():
    probe = FakeDevice("mount").start()
    port = probe.port
    probe.stop()
    with NdjsonClient(
        "127.0.0.1", port, name="mount", timeout_s=0.5, reconnect=ReconnectPolicy(0.02, 0.1)
    ) as client:
        with pytest.raises(DeviceDisconnected, match=r"not connected to 127.0.0.1"):
            client.call("STATUS")
        late = FakeDevice("mount", port=port).start()
        try:
            assert eventually(lambda: client.call("STATUS"), within_s=5, what="connected")
        finally:
            late.stop()


def test_backoff_doubles_to_its_cap_with_jitter():
    rng = random.Random(1)
    for attempt in range(12):
        step = min(2.0, 0.05 * 2**attempt)
        delays = [backoff_delay(attempt, 0.05, 2.0, rng) for _ in range(200)]
        assert all(step * 0.5 <= d <= step for d in delays)
        assert max(delays) - min(delays) > step * 0.3  # jittered, not lockstep


def test_a_silent_device_times_out_naming_the_command_and_the_link_survives(client, fake):
    client.call("STATUS")  # the device echoes ids: a timeout need not reset the connection
    fake.misbehave("silent", names=["STATUS"])
    with pytest.raises(DeviceTimeout, match=r"dome: no reply to STATUS within 1 s"):
        client.call("STATUS")
    assert client.call("STATUS")["state"] == "closed" and client.connects == 1


def test_a_late_reply_is_dropped_not_given_to_the_next_request(client, fake):
    client.call("STATUS")
    fake.misbehave("slow", delay_s=1.6, names=["OPEN"])
    with pytest.raises(DeviceTimeout):
        client.call("OPEN")
    reply = client.call("STATUS")  # waits behind the slow reply on the device
    assert reply["name"] == "STATUS"
    assert eventually(lambda: client.late_replies == 1, within_s=5, what="late reply counted")


def test_garbage_fails_its_request_with_a_protocol_error_and_the_link_survives(client, fake):
    fake.misbehave("garbage")
    with pytest.raises(ProtocolError, match=r"dome: bad reply: not JSON"):
        client.call("STATUS")
    assert client.call("STATUS")["state"] == "closed" and client.connects == 1


def test_an_oversized_reply_is_refused_and_the_next_line_is_intact(client, fake):
    fake.misbehave("oversized")
    with pytest.raises(ProtocolError, match=r"longer than 1048576 bytes"):
        client.call("STATUS")
    assert client.call("STATUS")["state"] == "closed" and client.connects == 1


def test_a_truncated_reply_then_silence_times_out_and_resynchronises(client, fake):
    fake.misbehave("truncated")
    with pytest.raises(DeviceTimeout, match=r"bytes of an unterminated reply received"):
        client.call("STATUS")
    assert eventually(lambda: client.call("STATUS"), within_s=5, what="resynchronised")
    assert client.connects == 2


def test_a_truncated_reply_then_close_is_a_protocol_error(client, fake):
    fake.misbehave("truncated_close")
    with pytest.raises(ProtocolError, match=r"truncated reply"):
        client.call("STATUS")


def test_a_dropped_connection_fails_pending_requests_and_reconnects(client, fake):
    fake.misbehave("drop")
    with pytest.raises(DeviceDisconnected, match=r"connection lost"):
        client.call("STATUS")
    assert eventually(lambda: client.call("STATUS"), within_s=5, what="reconnected")


def test_a_timeout_before_any_reply_resets_the_connection(client, fake):
    # Until a reply shows that the device echoes ids, a late reply could answer the wrong
    # request: the only safe resynchronisation is a new connection.
    fake.misbehave("silent")
    with pytest.raises(DeviceTimeout):
        client.call("STATUS")
    assert eventually(lambda: client.call("STATUS"), within_s=5, what="reconnected")
    assert client.connects == 2


def test_replies_without_ids_are_matched_in_order(client, fake):
    fake.misbehave("no_id", count=3)
    assert [client.call(name)["name"] for name in ("STATUS", "OPEN", "STATUS")] == [
        "STATUS", "OPEN", "STATUS",
    ]  # fmt: skip


def test_close_ends_the_threads_and_the_connection(fake):
    before = threading.active_count()
    client = NdjsonClient("127.0.0.1", fake.port, name="dome", timeout_s=0.5).start()
    client.call("STATUS")
    client.close()
    assert not client.connected
    with pytest.raises(DeviceDisconnected, match=r"client closed"):
        client.call("STATUS")
    assert wait_until(lambda: threading.active_count() <= before, 2, step_s=0.01)
