"""The fencing race: a routine goto under epoch N racing an alert claim that bumps the epoch.

In every trial the device must never execute a command of an older epoch after the alert's
abort: either the routine goto reached the device before the claim (and the abort then stopped
it), or it was refused with Preempted. A quarter of the trials send the routine goto strictly
after the claim, so the refusal path is exercised every time, not only when the race goes that
way.
"""

from __future__ import annotations

import threading

from devices.errors import Preempted
from tests.devices.helpers import sky_position

TRIALS = 1000


def test_a_stale_goto_never_reaches_the_mount_after_the_alerts_abort(
    fake_device, gateway_for, controller_for
):
    fake = fake_device("mount", move_s=0.0)
    gateway = gateway_for("mount", fake)
    routine, alert = controller_for(gateway), controller_for(gateway)
    routine_target, alert_target = sky_position(60, 90), sky_position(60, 270)
    start, claimed, done = threading.Barrier(2), threading.Event(), threading.Barrier(2)
    outcome: dict[str, str] = {}
    late = {"value": False}

    def routine_side() -> None:
        for _ in range(TRIALS):
            start.wait()
            if late["value"]:
                claimed.wait()
            try:
                routine.goto(*routine_target)
                outcome["routine"] = "executed"
            except Preempted:
                outcome["routine"] = "preempted"
            done.wait()

    worker = threading.Thread(target=routine_side, daemon=True)
    worker.start()
    counts = {"executed": 0, "preempted": 0}
    for trial in range(TRIALS):
        routine_lease = routine.claim("flow-routine", "routine")
        first_seq = fake.mark()
        late["value"] = trial % 4 == 3
        claimed.clear()
        start.wait()
        alert_lease = alert.claim("alert-listener", "alert")
        claimed.set()
        alert.goto(*alert_target)
        done.wait()
        counts[outcome["routine"]] += 1

        log = [r for r in fake.received() if r.seq > first_seq]
        aborts = [i for i, r in enumerate(log) if r.names == ["ABORT"]]
        assert aborts, f"trial {trial}: the claim sent no abort"
        abort = log[aborts[0]]
        assert abort.epoch == alert_lease.epoch and abort.owner == "alert-listener"
        after = log[aborts[0] + 1 :]
        stale = [r for r in after if r.epoch is not None and r.epoch < alert_lease.epoch]
        assert stale == [], f"trial {trial}: stale command(s) after the abort: {stale}"
        assert [r.owner for r in after if r.names == ["GOTO"]] == ["alert-listener"]
        routine_gotos = [r for r in log if r.names == ["GOTO"] and r.owner == "flow-routine"]
        assert all(r.epoch == routine_lease.epoch for r in routine_gotos)
        if outcome["routine"] == "preempted":
            assert routine_gotos == [], f"trial {trial}: a refused goto reached the device"
        target = fake.state["target"]
        assert (target["ra_deg"], target["dec_deg"]) == alert_target
        alert_lease.release()
    worker.join(timeout=5)
    print(f"fencing race over {TRIALS} trials: {counts}")
    assert counts["preempted"] >= TRIALS // 4 and sum(counts.values()) == TRIALS
