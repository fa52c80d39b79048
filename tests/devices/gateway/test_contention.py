"""Two real processes contend for the mount through one gateway.

The routine stand-in keeps commanding the mount; the alert stand-in claims it. The routine
owner's next command after the grant must fail with Preempted, and no command it sent after the
grant may have been accepted. The delay between the grant and the routine's Preempted is measured
and printed (a figure to report, not an assertion: speed is shown by the benchmark).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _start(role: str, address: tuple[str, int]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.contenders", role, address[0], str(address[1])],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _line(process: subprocess.Popen) -> dict:
    line = process.stdout.readline()
    assert line, f"contender exited early (code {process.wait(10)})"
    return json.loads(line)


def test_the_routine_owners_next_command_after_an_alert_claim_is_preempted(
    fake_device, gateway_for
):
    fake = fake_device("mount", move_s=0.0)
    gateway = gateway_for("mount", fake)
    routine = _start("routine", gateway.address)
    alert = _start("alert", gateway.address)
    try:
        assert _line(alert)["event"] == "ready"
        ready = _line(routine)
        assert ready["event"] == "ready"
        alert.stdin.write("go\n")
        alert.stdin.flush()
        claimed = _line(alert)
        preempted = _line(routine)
        assert routine.wait(10) == 0 and alert.wait(10) == 0
    finally:
        for process in (routine, alert):
            if process.poll() is None:
                process.kill()
                process.wait()
            for stream in (process.stdin, process.stdout):
                stream.close()

    assert claimed["previous"]["owner"] == "flow-routine" and claimed["aborted"]
    assert preempted["event"] == "preempted" and preempted["accepted"] > 0
    assert "alert-listener" in preempted["message"] or "lease" in preempted["message"]
    # Nothing the routine sent after the grant was accepted.
    assert preempted["last_ok_sent"] < claimed["granted"]
    routine_gotos = [r for r in fake.received("GOTO") if r.owner == "flow-routine"]
    abort_at = next(r.seq for r in fake.received("ABORT") if r.owner == "alert-listener")
    assert routine_gotos and all(r.seq < abort_at for r in routine_gotos)
    abort = next(r for r in fake.received("ABORT") if r.owner == "alert-listener")
    # The preemption takes effect at the gateway (the abort reaches the device) before the
    # claimant hears of its grant, so the routine may learn of it first: both delays are shown.
    after_abort_ms = (preempted["at"] - abort.at) * 1000
    after_grant_ms = (preempted["at"] - claimed["granted"]) * 1000
    print(
        f"routine Preempted {after_abort_ms:.1f} ms after the abort reached the device, "
        f"{after_grant_ms:.1f} ms after the alert heard of its grant "
        f"(claim round trip {(claimed['granted'] - claimed['asked']) * 1000:.1f} ms)"
    )
