"""What a gateway writes down: the lease mirror, device health, journal entries and events.

Everything goes through a write-behind queue: the gateway never waits for the database, and keeps
working while the database is unreachable.
"""

from __future__ import annotations

from sqlalchemy import select

from devices.errors import DeviceDisconnected
from infra.db import session_scope
from infra.db.engine import create_pyros_engine
from infra.db.models import Device, DeviceLease, DeviceStatusHistory, JournalEntry
from infra.events import DEVICE_BACK, DEVICE_LOST
from infra.writebehind import WriteBehindQueue
from tests.devices.helpers import sky_position
from tests.support.waiting import eventually


def _lost(controller) -> bool:
    try:
        controller.status()
    except DeviceDisconnected:
        return True
    return False


def test_lease_health_journal_and_events_are_recorded(
    engine, fake_device, gateway_for, controller_for
):
    queue = WriteBehindQueue(lambda: engine, retry_initial_s=0.05).start()
    fake = fake_device("mount")
    gateway = gateway_for("mount", fake, queue=queue)
    routine, alert = controller_for(gateway), controller_for(gateway)
    eventually(routine.status, within_s=5, what="device reachable")
    routine.claim("flow-1", "routine")
    routine.goto(*sky_position())
    alert_lease = alert.claim("alert-listener", "alert")
    fake.stop()
    eventually(lambda: _lost(routine), within_s=5, what="device lost")
    fake.start()
    eventually(routine.status, within_s=5, what="device back")
    assert gateway.flush_records() and queue.flush(15)
    queue.stop()

    with session_scope(engine) as session:
        lease = session.get(DeviceLease, "mount")
        assert (lease.owner, lease.priority, lease.epoch) == (
            "alert-listener", "alert", alert_lease.epoch,
        )  # fmt: skip
        assert lease.expires_at is not None and lease.updated_at is not None
        journal = list(session.scalars(select(JournalEntry).order_by(JournalEntry.id)))
        device_events = [e.payload["event"] for e in journal if e.kind == "device"]
        assert device_events == ["connected", "preempted", "lost", "back"]
        preempted = next(e.payload for e in journal if e.payload.get("event") == "preempted")
        assert preempted["displaced_owner"] == "flow-1" and preempted["aborted"] is True
        assert preempted["operation"]["command"] == "GOTO"
        assert all(e.source == "gateway:mount" for e in journal)
        events = [e.payload for e in journal if e.kind == "event"]
        assert [e["event"] for e in events] == [DEVICE_LOST, DEVICE_BACK]
        assert {e["resource"]["prefect.resource.id"] for e in events} == {"pyros.device.mount"}
        history = list(
            session.scalars(select(DeviceStatusHistory).order_by(DeviceStatusHistory.id))
        )
        assert [(h.event, h.connected) for h in history] == [
            ("connected", True), ("lost", False), ("back", True),
        ]  # fmt: skip
        assert history[1].error
        device = session.scalars(select(Device).where(Device.name == "mount")).one()
        assert device.connected and device.kind == "mount" and device.port == fake.port


def test_a_lapse_is_journaled_and_clears_the_mirror(engine, fake_device, gateway_for):
    from devices.client import NdjsonClient

    queue = WriteBehindQueue(lambda: engine, retry_initial_s=0.05).start()
    gateway = gateway_for("dome", fake_device("dome"), queue=queue)
    with NdjsonClient(*gateway.address, name="dome", timeout_s=2) as client:
        client.call("CLAIM", {"owner": "dead-flow", "priority": "routine", "ttl_s": 0.2})
        eventually(lambda: client.call("LEASE")["lease"]["owner"] is None, within_s=5,
                   what="lapsed")  # fmt: skip
    assert gateway.flush_records() and queue.flush(15)
    queue.stop()
    with session_scope(engine) as session:
        assert session.get(DeviceLease, "dome").owner is None
        lapsed = [
            e.payload
            for e in session.scalars(select(JournalEntry).where(JournalEntry.kind == "device"))
            if e.payload["event"] == "lapsed"
        ]
        assert [(p["owner"], p["priority"]) for p in lapsed] == [("dead-flow", "routine")]


def test_the_gateway_never_waits_for_an_unreachable_database(
    fake_device, gateway_for, controller_for
):
    unreachable = create_pyros_engine("postgresql+psycopg2://pyros@127.0.0.1:1/none")
    queue = WriteBehindQueue(lambda: unreachable, retry_initial_s=0.05).start()
    try:
        fake = fake_device("mount")
        gateway = gateway_for("mount", fake, queue=queue)
        mount, other = controller_for(gateway), controller_for(gateway)
        eventually(mount.status, within_s=5, what="device reachable")
        for _ in range(20):
            with mount.claim("flow-1", "routine"):
                mount.goto(*sky_position())
            other.claim("alert-listener", "alert").release()
        fake.stop()
        eventually(lambda: _lost(mount), within_s=5, what="device lost")
        gateway.flush_records()
        assert queue.stats.pending > 40  # every write is waiting for the database, not us
    finally:
        queue.stop(timeout=0.1)
        unreachable.dispose()
