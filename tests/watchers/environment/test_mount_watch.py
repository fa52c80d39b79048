"""The monitor's mount watch (#24) on the real simulators behind real gateways: a mount in fault
closes an open dome in fine weather, with no night running, tells the operator, and the dome
follows the requests again once the mount is back; a mount that stops answering closes it only
after several reads in a row, never for one failed read."""

from __future__ import annotations

from sqlalchemy import select

from devices.errors import DeviceProblem
from infra.db import session_scope
from infra.db.models import JournalEntry
from tests.support.waiting import wait_until
from tests.watchers.environment.test_monitor import STEP_S, open_dome, shutter
from watchers.environment.mount_watch import LOST_AFTER_READS, MountWatch


def _events(engine) -> list[tuple[str, dict]]:
    with session_scope(engine) as session:
        return [
            (e.payload["event"], e.payload["payload"])
            for e in session.scalars(
                select(JournalEntry)
                .where(JournalEntry.kind == "event")
                .order_by(JournalEntry.id)  # PostgreSQL returns rows in no given order
            )
            if e.payload["event"] in {"pyros.device.lost", "pyros.device.back"}
        ]


def test_a_mount_in_fault_closes_the_dome_in_fine_weather_and_it_reopens_when_back(
    engine, monitor_rig
):
    mrig = monitor_rig(lambda: engine, speed=20.0)
    mrig.start()
    open_dome(mrig, engine)
    mrig.bench.observatory.inject_fault("mount", "fault", 120.0)  # 6 wall seconds at 20x

    assert wait_until(lambda: shutter(mrig) in {"closing", "closed"}, 10, STEP_S), shutter(mrig)
    assert mrig.monitor.mount_watch.problem == "mount in fault"
    assert mrig.monitor.gate.safe  # the weather stays good: the mount alone closed the dome
    # An unsafe episode of its own (after the start-up's hold time), naming the mount.
    assert wait_until(lambda: mrig.monitor.episodes.episodes[-1].elements == ("mount",), 5, STEP_S)
    assert mrig.monitor.episodes.episodes[-1].reason == "mount in fault"
    # Back: the open request stands, so the dome opens again (no hold time: the weather held).
    assert wait_until(lambda: shutter(mrig) == "open", 30, STEP_S), shutter(mrig)
    assert mrig.monitor.mount_watch.problem is None
    mrig.stop()
    assert mrig.queue.flush(30)
    events = _events(engine)
    assert [name for name, _ in events] == ["pyros.device.lost", "pyros.device.back"], events
    assert events[0][1]["device"] == "mount" and "fault" in events[0][1]["reason"], events


def test_a_mount_that_stops_answering_is_a_problem_after_several_reads_not_one(engine, monitor_rig):
    mrig = monitor_rig(lambda: engine, speed=20.0)
    watch = MountWatch(mrig.monitor.reflex.mount)
    assert watch.look().problem is None
    mrig.bench.observatory.inject_fault("mount", "disconnect", 600.0)
    looks = [watch.look() for _ in range(LOST_AFTER_READS)]
    assert [look.problem for look in looks[:-1]] == [None] * (LOST_AFTER_READS - 1)
    assert looks[-1].changed and looks[-1].problem.startswith("mount not answering")
    assert not looks[-1].fault  # a lost link is the gateway's to tell
    mrig.bench.observatory.faults.clear("mount")
    assert wait_until(lambda: watch.look().problem is None, 10, 0.1)


def test_failed_reads_count_only_in_a_row(engine, monitor_rig):
    mrig = monitor_rig(lambda: engine, speed=20.0)
    mount = mrig.monitor.reflex.mount
    watch = MountWatch(mount)
    for _ in range(3):  # without the reset, the second round would reach LOST_AFTER_READS
        mrig.bench.observatory.inject_fault("mount", "disconnect", 600.0)
        for _ in range(LOST_AFTER_READS - 1):
            assert watch.look().problem is None
        mrig.bench.observatory.faults.clear("mount")
        assert wait_until(_answers(mount), 10, 0.1)
        assert watch.look().problem is None


def _answers(mount):
    def check() -> bool:
        try:
            mount.status()
        except DeviceProblem:
            return False
        return True

    return check
