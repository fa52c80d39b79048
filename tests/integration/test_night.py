"""A simulated night through the whole stack (real Prefect server and worker, PostgreSQL): the
default scenario's first two hours of dark night, with its rain episode."""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from infra.db import session_scope
from infra.db.models import Image, JournalEntry, NrtAnalysis
from tasks.night.images import sha256_of
from tests.support.cli import pyros_command
from tests.support.databases import only_on

pytestmark = pytest.mark.integration
SPEED = 100.0
#: The rainy night's clock: slow enough for this 2-core machine to keep up (issue 19's "≥ 80 %
#: of the schedulable sequences executed" is about the night's decisions; how fast a machine
#: keeps up is the night benchmark's figure: at 100x here it does not). At 50x a quiet run gave 14
#: of the 15 sequences a hindsight plan places, but CI of 2026-12-07 gave 11 of 15 (0.733): its
#: orchestration lost 13 % of the dark time (lateness p95 281 simulated s, resume after the rain
#: 566 s, about 11 wall seconds at 50x). Each wall second costs half as much sky at 25x.
RAINY_SPEED = 25.0
RAIN_ENDS_S = 10200.0  # the default scenario: rain from 8400 s to 10200 s after the start


def science_frames(instance, night: str) -> set[str]:
    """The ids of the science frames on disk for ``night`` (the calibrations apart)."""
    return {
        p.stem
        for p in (instance.home / "frames" / night).glob("*.fits")
        if p.parent.name != "calibration"
    }


def _flow_runs(instance) -> list[dict]:
    code = """
import json
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as c:
    deployments = {d.id: d.name for d in c.read_deployments()}
    print(json.dumps([
        {"deployment": deployments.get(r.deployment_id), "state": r.state.type.value,
         "expected": r.expected_start_time.isoformat(), "parameters": r.parameters}
        for r in c.read_flow_runs(limit=200)
    ]))
"""
    import subprocess

    env = {**instance.env, "PREFECT_API_URL": f"http://127.0.0.1:{instance.prefect_port}/api"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@only_on("postgresql")
@pytest.mark.site_frame_px(None)  # the real sensors, sampled as `--frame-px` says (issue 27)
@pytest.mark.timeout(1500)  # the night's own limit is 1200 s; 300 s (the default) cut CI short
def test_two_hours_of_a_rainy_night_through_the_stack(instance, engine):
    result = instance.pyros(
        "night",
        "--simulate",
        "--speed",
        f"{RAINY_SPEED:g}",
        "--hours",
        "2",
        "--frame-px",
        "512",
        "--json",
        timeout=1200,
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    label = summary["night"]

    # The night worked; what it did not do is accounted for with its reason (below). At 100x
    # this machine does not keep up (runs gave 9/10 executed quiet, 4/6 in CI, 2/3 at load 18):
    # hence RAINY_SPEED (its comment gives the runs at 50x).
    assert summary["sequences_executed"] >= 1, summary
    report = json.loads((instance.home / "reports" / f"{label}.json").read_text())
    left = [
        (line["state"], line["reason"])
        for line in report["sequences"]
        if line["state"] != "executed"
    ]
    print("executed/plannable:", summary["sequences_executed"], "/",
          summary["sequences_plannable"], "not executed:", left, file=sys.stderr)  # fmt: skip
    assert (instance.home / "reports" / f"{label}.md").read_text().startswith(f"# Night {label}")
    for line in report["sequences"] + report["dropped"] + report["unplannable"]:
        assert line["state"] == "executed" or line["reason"], line
    assert summary["flow_runs_failed"] == 0 and summary["flow_runs_crashed"] == 0, summary
    # The report file says what the terminal said (one computation of the night's figures).
    assert {k: report["summary"][k] for k in summary if k not in ("report", "ui")} == {
        k: v for k, v in summary.items() if k not in ("report", "ui")
    }

    # The near-real-time analysis used at least 99 % of each camera's frames (a frame it cannot
    # analyse is counted with its reason).
    cameras = summary["cameras"]
    # Which cameras took frames depends on which sequences ran (the infrared album of "M31
    # field" comes last): CI's run of 2026-12-04 executed 2 sequences, none reaching it.
    assert cameras, summary
    assert sum(c["frames_taken"] for c in cameras.values()) == summary["images"]
    fractions = {name: c["frames_analysed"] / c["frames_taken"] for name, c in cameras.items()}
    print("analysed fraction per camera:", json.dumps(fractions), file=sys.stderr)
    assert all(f >= 0.99 for f in fractions.values()), cameras
    # Candidates on no injected transient, scored against the truth written beside each frame.
    for name, camera in cameras.items():
        per_frame = camera["false_candidates_per_frame"]
        assert per_frame is not None and per_frame <= 1.0, (name, camera)

    # Every image row has its frame on disk, whole, and every frame has its row.
    with session_scope(engine) as session:
        images = session.scalars(select(Image)).all()
        assert len(images) == summary["images"] > 0
        for image in images:
            assert sha256_of(Path(image.path)) == (image.sha256, image.size_bytes), image.id
        assert science_frames(instance, label) == {image.id for image in images}
        # Each frame analysed once, though the blocks' consumers overlap (CI, 2026-12-06).
        analysed = session.scalars(select(NrtAnalysis.image_id)).all()
        assert len(analysed) == len(set(analysed)), sorted(analysed)

        # The monitor closed the dome in the rain and re-opened it after the hold time.
        changes = []
        for entry in session.scalars(
            select(JournalEntry).where(JournalEntry.kind == "event").order_by(JournalEntry.id)
        ):
            name = (entry.payload or {}).get("event")
            if name in ("pyros.weather.unsafe", "pyros.weather.safe"):
                changes.append((name, entry.sim_time, entry.payload["payload"]["actions"]))
    unsafe = [c for c in changes if c[0] == "pyros.weather.unsafe"]
    assert len(unsafe) == summary["weather_closures"] == 1, changes
    assert "dome close" in unsafe[0][2]
    reopened = [c for c in changes if c[0] == "pyros.weather.safe" and c[1] > unsafe[0][1]]
    assert reopened and "dome open" in reopened[0][2], changes
    from app.cli.nightsim import SIM_EVENING_S
    from infra.config import load_config
    from tasks.night.windows import night_run_times
    from tasks.scheduling.night_times import night_for

    config = load_config(instance.home / "run" / "site-simulation.toml")
    night = night_for(label, config)
    sim_start = night.sunset - timedelta(seconds=SIM_EVENING_S)  # the simulation's start
    rain_end = sim_start + timedelta(seconds=RAIN_ENDS_S)
    assert reopened[0][1] - rain_end >= timedelta(seconds=590)  # the hold time (600 s)
    after_rain = [i for i in images if i.acquired_at > reopened[0][1]]
    print("images after the dome re-opened:", len(after_rain), file=sys.stderr)

    # plan-night created the night's runs at tonight's twilight instants (in wall time).
    epoch = float((instance.home / "run" / "clock.epoch").read_text().strip())
    runs = _flow_runs(instance)
    expected = night_run_times(night, config)
    for name in ("start-of-night", "execute-night", "end-of-night"):
        planned = [
            r
            for r in runs
            if r["deployment"] == name
            and "block_start" not in (r["parameters"] or {})
            and "dawn_flats" not in (r["parameters"] or {})
        ]
        assert len(planned) == 1, (name, runs)
        wall = datetime.fromisoformat(planned[0]["expected"])
        due = datetime.fromtimestamp(
            epoch + (expected[name] - sim_start).total_seconds() / RAINY_SPEED, UTC
        )
        late = (wall - due).total_seconds()
        if name == "start-of-night":
            # Due at the simulation's start, before plan-night ran: scheduled at once.
            assert -2.0 < late < 60.0, (name, wall, due)
        else:
            assert abs(late) < 2.0, (name, wall, due)
    states = {r["state"] for r in runs}
    assert not states & {"FAILED", "CRASHED"}, runs

    # The night against what a plan made in hindsight (the rain known) could have executed
    # (issue 19: at least 80 %); how the orchestration kept up is printed (benchmark figures).
    from tasks.night.hindsight import executed_over_hindsight

    with session_scope(engine) as session:
        hindsight = executed_over_hindsight(
            session, label, config, datetime.fromisoformat(summary["span_end"])
        )
    print("hindsight:", json.dumps(hindsight), file=sys.stderr)
    print("orchestration:", json.dumps(summary["orchestration"]), file=sys.stderr)
    assert hindsight["hindsight_schedulable"] >= 1 and hindsight["weather_closed_s"] > 0
    assert hindsight["executed_over_hindsight"] >= 0.8, hindsight
    assert summary["orchestration"]["executions"] >= summary["sequences_executed"]


def _status(instance) -> dict:
    return json.loads(instance.pyros("status", "--json").stdout)


def _kill_tree(pid: int) -> int:
    """Kill a process and everything it started (the worker and its flow-run processes)."""
    import psutil

    parent = psutil.Process(pid)
    family = [*parent.children(recursive=True), parent]
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    return len(family)


@only_on("postgresql")
@pytest.mark.site_frame_px(None)
@pytest.mark.timeout(2000)  # three hours of night at 100x, a restart, and the night's end
def test_killing_the_worker_mid_sequence_loses_nothing_and_the_night_goes_on(instance, engine):
    import subprocess
    import time

    from infra.db.models import Album, Plan, Sequence, SequenceTransition

    night = subprocess.Popen(
        pyros_command("night", "--simulate", "--speed", "100", "--hours", "3", "--frame-px", "128",
                      "--json"),
        env=instance.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        worker = None
        victim = None
        deadline = time.monotonic() + 900
        while victim is None and time.monotonic() < deadline:
            assert night.poll() is None, night.communicate()
            time.sleep(0.2)
            if worker is None:
                # Known before the victim: `pyros status` takes seconds, and a sequence seen
                # mid-way could end before the kill (CI, 2026-12-04: the victim ended executed).
                with contextlib.suppress(AssertionError, ValueError, StopIteration):
                    processes = _status(instance)["processes"]
                    worker = next(p for p in processes if p["name"] == "worker" and p["pid"])
                continue
            with session_scope(engine) as session:
                for sequence in session.scalars(
                    select(Sequence).where(Sequence.state == "executing")
                ):
                    plans = [p for a in sequence.albums for p in a.plans]
                    done = sum(p.images_done for p in plans)
                    # Mid-way: taken some, at least two frames still to take when killed.
                    if 1 <= done <= sum(p.nb_images for p in plans) - 2:
                        victim = sequence.id
        assert victim is not None, "no sequence was seen executing"
        print("victim", victim, "seen after", round(900 - (deadline - time.monotonic()), 1),
              "s wall", file=sys.stderr)  # fmt: skip
        assert _kill_tree(worker["pid"]) >= 2  # the worker and the flow run it was running
        out, err = night.communicate(timeout=1800)
    finally:
        if night.poll() is None:
            night.kill()
    assert night.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    # The supervisor restarted the worker, and a later block went on with the night.
    worker = next(p for p in _status(instance)["processes"] if p["name"] == "worker")
    assert worker["restarts"] >= 1 and worker["state"] == "running", worker
    with session_scope(engine) as session:
        sequence = session.get(Sequence, victim)
        states = session.scalars(
            select(SequenceTransition.to_state)
            .where(SequenceTransition.sequence_id == victim)
            .order_by(SequenceTransition.id)
        ).all()
        assert "interrupted" in states, states  # reconciled by the next block
        plans = session.scalars(select(Plan).join(Album).where(Album.sequence_id == victim)).all()
        images = session.scalars(select(Image).where(Image.sequence_id == victim)).all()
        wanted = sum(p.nb_images for p in plans)
        if sequence.state == "executed":
            # Every image of the sequence, once each.
            assert len(images) == wanted, (len(images), wanted)
        else:
            # On a loaded machine the kill comes later in the night: the rest of the sequence may
            # be planned past the three simulated hours (planned again), or no block runs between
            # the restart and the simulation's end (100x: a flow run's start is minutes of
            # simulated time), and the night's end leaves it interrupted, to resume another night.
            # Either way what it took is kept, nothing taken twice (the checksums below). All of it
            # may have been taken: the read above and the kill are not atomic (CI, 2026-12-06: 7 of
            # 7, the frames after the read stored, or in flight at the kill and adopted).
            assert sequence.state in ("planned", "interrupted"), (
                sequence.state,
                sequence.state_reason,
                states,
            )
            assert 1 <= len(images) <= wanted, (len(images), wanted)
        print("victim ended", sequence.state, "with", len(images), "of", wanted, file=sys.stderr)
        # A frame taken again would have rewritten a recorded file (its checksum would no longer
        # match its row).
        for image in images:
            assert sha256_of(Path(image.path)) == (image.sha256, image.size_bytes), image.id
        # No frame lost: the exposure in flight at the kill has its row too (adopted).
        recorded = {image.id for image in session.scalars(select(Image))}
    frames = science_frames(instance, summary["night"])
    assert frames == recorded, (frames - recorded, recorded - frames)
    # How many sequences the 3 simulated hours executed is the machine's throughput at 100x
    # (a benchmark figure: CI's run of 2026-12-04 executed 1 of 11 plannable), never asserted.
    print("executed/plannable:", summary["sequences_executed"], "/",
          summary["sequences_plannable"], file=sys.stderr)  # fmt: skip
    assert summary["sequences_executed"] >= 1, summary
