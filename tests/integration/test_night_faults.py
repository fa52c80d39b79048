"""Hardware failing mid-night through the whole stack (#24): the bundled scenario
``night/camera_mount_faults.json`` as two hours of dark night — the infrared camera
disconnected for 35 minutes, the mount in fault for 15. The night goes on with the visible
camera, closes for the mount and resumes; nothing fails, every interruption has its reason, no
image is lost or taken twice."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from infra.db import session_scope
from infra.db.models import Image, JournalEntry, Sequence, SequenceTransition
from simulators import DATA_DIR
from tasks.night.images import sha256_of
from tasks.scheduling import reasons as why
from tests.integration.test_night import science_frames
from tests.support.databases import only_on

pytestmark = pytest.mark.integration
SCENARIO = DATA_DIR / "scenarios" / "night" / "camera_mount_faults.json"
CAMERA_DIES_S, CAMERA_BACK_S = 6300.0, 8400.0
MOUNT_FAULT_S, MOUNT_BACK_S = 9600.0, 10500.0
#: Simulated seconds the dome may take to start closing after the mount's fault: the monitor's
#: polls (a fifth of a wall second, 20 simulated seconds at 100x) with room for a loaded machine.
CLOSE_WITHIN_S = 300.0


def _events(session, names: set[str]) -> list[tuple[str, object, dict]]:
    found = []
    for entry in session.scalars(
        select(JournalEntry).where(JournalEntry.kind == "event").order_by(JournalEntry.id)
    ):
        name = (entry.payload or {}).get("event")
        if name in names:
            found.append((name, entry.sim_time, entry.payload["payload"]))
    return found


@only_on("postgresql")
@pytest.mark.site_frame_px(None)
@pytest.mark.timeout(1500)
def test_a_camera_dies_and_the_mount_faults_the_night_goes_on_and_loses_nothing(instance, engine):
    result = instance.pyros(
        "night", "--simulate", "--speed", "100", "--hours", "2", "--frame-px", "512",
        "--scenario", str(SCENARIO), "--json",
        timeout=1200,
    )  # fmt: skip
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    print("summary:", json.dumps(summary), file=sys.stderr)
    label = summary["night"]
    assert summary["flow_runs_failed"] == 0 and summary["flow_runs_crashed"] == 0, summary
    report = json.loads((instance.home / "reports" / f"{label}.json").read_text())
    for line in report["sequences"] + report["dropped"] + report["unplannable"]:
        assert line["state"] == "executed" or line["reason"], line

    from app.cli.nightsim import SIM_EVENING_S
    from infra.config import load_config
    from tasks.scheduling.night_times import night_for

    config = load_config(instance.home / "run" / "site-simulation.toml")
    night = night_for(label, config)
    start = night.sunset - timedelta(seconds=SIM_EVENING_S)

    def at(seconds: float):
        return start + timedelta(seconds=seconds)

    with session_scope(engine) as session:
        # Every image row has its frame, whole; every frame its row (none lost, none twice).
        images = session.scalars(select(Image)).all()
        assert len(images) == summary["images"] > 0
        for image in images:
            assert sha256_of(Path(image.path)) == (image.sha256, image.size_bytes), image.id
        frames = science_frames(instance, label)
        assert {image.id for image in images} <= frames
        # A frame without its row: only an exposure the end of the span cut (the night stopped
        # its run mid-exposure); its sequence was not finished and adopts it when resumed.
        for orphan in frames - {image.id for image in images}:
            sequence_id = int(orphan[1:8])
            sequence = session.get(Sequence, sequence_id)
            assert sequence is not None and sequence.state != "executed", orphan
        transitions = session.scalars(
            select(SequenceTransition).order_by(SequenceTransition.id)
        ).all()
        print("transitions:", json.dumps([
            (t.sequence_id, t.to_state, str(t.at), t.reason) for t in transitions
        ]), file=sys.stderr)  # fmt: skip
        keys = [(i.sequence_id, i.plan_id, i.index) for i in images]
        assert len(keys) == len(set(keys))

        events = _events(
            session,
            {"pyros.night.device-hold", "pyros.night.device-resumed", "pyros.dome.action",
             "pyros.device.lost", "pyros.device.back"},
        )  # fmt: skip
        print("events:", json.dumps([(e[0], str(e[1]), e[2].get("device"), e[2].get("actions"))
                                     for e in events]), file=sys.stderr)  # fmt: skip
        # The night went on with the visible camera while the infrared one was lost.
        outage = [i for i in images if at(CAMERA_DIES_S + 60) < i.acquired_at < at(CAMERA_BACK_S)]
        assert {i.instrument for i in outage} == {"Visible camera"}, [
            (i.id, i.instrument, i.acquired_at) for i in outage
        ]
        # Sequences needing it waited with the reason, and were planned again when it was back.
        waited = session.scalars(
            select(SequenceTransition).where(
                SequenceTransition.reason.like(f"{why.DEVICE_LOST}: waits for Infrared camera%")
            )
        ).all()
        assert waited, "no sequence waited for the lost camera"
        assert any(i.instrument == "Infrared camera" and i.acquired_at > at(CAMERA_BACK_S)
                   for i in images)  # fmt: skip
        # Every interruption has its reason.
        interrupted = session.scalars(
            select(SequenceTransition).where(SequenceTransition.to_state == "interrupted")
        ).all()
        assert all(t.reason for t in interrupted), [(t.sequence_id, t.reason) for t in interrupted]

    # The mount's fault closed the dome — the monitor's mount watch, block or no block — and
    # told the operator; the night resumed after it.
    fault_span = (at(MOUNT_FAULT_S), at(MOUNT_BACK_S))
    lost = [e for e in events if e[0] == "pyros.device.lost" and e[2].get("device") == "mount"]
    assert any(fault_span[0] <= e[1] < fault_span[1] for e in lost), events
    closed = [
        e
        for e in events
        if e[0] == "pyros.dome.action"
        and "dome close" in e[2].get("actions", [])
        and fault_span[0] <= e[1] < fault_span[1]
    ]
    assert closed and closed[0][1] < at(MOUNT_FAULT_S + CLOSE_WITHIN_S), events
    assert any(i.acquired_at > fault_span[1] for i in images), "nothing taken after the mount"
    # When a block ran during the fault, the night held for the mount and resumed after it.
    held = [e for e in events if e[0] == "pyros.night.device-hold" and e[2]["device"] == "mount"]
    for hold in held:
        assert fault_span[0] <= hold[1] < fault_span[1], events
        resumed = [e for e in events if e[0] == "pyros.night.device-resumed" and e[1] > hold[1]]
        assert resumed and resumed[0][1] >= fault_span[1], events
    print(f"mount: dome closed at {closed[0][1]}, night holds {len(held)}", file=sys.stderr)
