"""The GRB follow-up on a real stack (issue #18): ``pyros up`` (Prefect server and worker, the
simulators behind their gateways, the environment monitor, the Comet broker and the alert
listener) under a simulated clock at the synthetic Swift notice's issue time.

A routine exposure is in flight (a routine holder of the visible camera and of the mount, through
the gateways) when the notice is sent to the broker with ``pyros alert send``: the listener's
reflex aborts the exposure and slews the mount to the burst, then ``pyros.alert.follow-up``
starts exactly one ``alert-follow-up`` run, which takes the follow-up's frames and ends
Completed with its reason.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from devices.controllers import ImageType, Priority, connect_camera, connect_mount
from infra.clock import parse_clock
from infra.config import load_config
from infra.db import session_scope
from infra.db.models import Alert, Image, JournalEntry, Sequence
from tasks.alerts.parse import issued_at_hint
from tests.support.artifacts import artifact_table, stack_artifacts
from tests.support.databases import only_on
from tests.support.voevents import SYNTHETIC, variant
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def _runs(instance) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api = f"http://127.0.0.1:{instance.prefect_port}/api"
    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as c:
        return c.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["alert-follow-up"]))
        )


def _prepare(instance) -> str:
    """A short hold before the dome opens, and the clock just after the notice's issue."""
    site = instance.home / "site.toml"
    site.write_text(
        site.read_text(encoding="utf-8").replace("hold_good_s = 600.0", "hold_good_s = 30.0"),
        encoding="utf-8",
    )
    start = issued_at_hint(SYNTHETIC) + timedelta(seconds=5)
    clock = f"sim:{start:%Y-%m-%dT%H:%M:%S}Z@10@{time.time():.3f}"
    instance.env["PYROS_CLOCK"] = clock
    return clock


# SQLite, the embedded default: the listener's reflex and the follow-up run write the same
# sequence from different processes (WAL, busy timeout). PostgreSQL's follow-up: test_night_grb.
@only_on("sqlite")
@pytest.mark.timeout(1200)
def test_an_alert_during_a_routine_exposure_aborts_it_slews_and_starts_one_follow_up(
    instance, engine, tmp_path
):
    clock = parse_clock(_prepare(instance))
    instance.pyros("up", "--json", timeout=300)
    config = load_config(instance.home / "site.toml")
    gateways = instance.gateway_ports

    def at(device: str) -> tuple[str, int]:
        return ("127.0.0.1", gateways[device])

    camera = connect_camera("Visible camera", config, clock=clock, address=at("camera_vis"))
    mount = connect_mount(config, clock=clock, address=at("mount"))
    try:
        _scenario(instance, engine, tmp_path, mount, camera)
    finally:
        mount.disconnect()
        camera.disconnect()


def _scenario(instance, engine, tmp_path, mount, camera) -> None:
    mount.claim("execute-night:routine", Priority.ROUTINE)
    camera.claim("execute-night:routine", Priority.ROUTINE)
    camera.start_exposure(600.0, ImageType.LIGHT, frame_id="routine-1",
                          path=tmp_path / "routine-1.fits")  # fmt: skip
    eventually(lambda: camera.status().busy, within_s=30, what="the routine exposure started")

    notice = tmp_path / "grb.xml"
    # A 7″ circle: one pointing of the test site's small (64 px) frames.
    notice.write_bytes(variant(SYNTHETIC, error=0.002))
    instance.pyros("alert", "send", str(notice), timeout=120)

    # The reflex: the routine holder lost both devices, the exposure was aborted, the mount
    # goes to the burst.
    def alert_row() -> Alert | None:
        with session_scope(engine) as session:
            row = session.scalars(select(Alert).where(Alert.decision == "follow-up")).first()
            if row is not None:
                session.expunge(row)
            return row

    alert = eventually(alert_row, within_s=120, what="the alert decided", every_s=0.5)
    state = eventually(lambda: (s := mount.status()).target_ra_deg is not None and s,
                       within_s=30, what="the mount sent to the burst")  # fmt: skip
    assert (state.target_ra_deg, state.target_dec_deg) == pytest.approx(
        (alert.ra_deg, alert.dec_deg), abs=1e-4
    )

    # The cameras are claimed once the decision is stored (the slew is sent before it, DESIGN
    # §2): CI of 2026-12-05 read the camera's lease in between, still the routine holder's.
    def camera_taken():
        view = camera.status().gateway
        return view if view is not None and view.lease.owner == f"alert:{alert.burst_key}" else None

    view = eventually(camera_taken, within_s=10, what="the camera claimed for the burst")
    taken = view.last_preemption or {}
    assert taken.get("aborted") and (taken.get("operation") or {}).get("command") == "EXPOSE"
    assert eventually(lambda: camera.lease is not None and camera.lease.lost, within_s=10,
                      what="the routine holder told")  # fmt: skip
    assert not (tmp_path / "routine-1.fits").exists()

    # Prefect: exactly one alert-follow-up run, which ends Completed with its reason.
    eventually(lambda: _runs(instance), within_s=120, what="a follow-up run", every_s=1.0)

    def finished():
        runs = _runs(instance)
        return runs if all(r.state is not None and r.state.is_final() for r in runs) else None

    runs = eventually(finished, within_s=600, what="the follow-up run ended", every_s=2.0)
    assert len(runs) == 1, [(r.name, r.state) for r in runs]
    (run,) = runs
    assert run.state.type.value == "COMPLETED", run.state
    assert run.parameters["burst_key"] == alert.burst_key
    print(f"follow-up run: {run.state.name}: {run.state.message}")
    with session_scope(engine) as session:
        states = session.scalars(
            select(Sequence.state).where(Sequence.request_id == alert.request_id)
        ).all()
        images = session.scalars(select(Image).where(Image.alert_ivorn == alert.ivorn)).all()
    assert states == ["executed"], (states, run.state.message)
    assert len(images) == 20  # swift-bat: 10 × r, 10 × J
    # The control room followed it: the alerts table has the decision, and the current-sequence
    # progress is the follow-up's, complete (issue 21).
    artifacts = {a["key"]: a for a in stack_artifacts(instance)}
    alerts = artifact_table(artifacts["pyros-alerts"])
    assert any(row["decision"] == "follow-up" and row["burst"] == alert.burst_key
               for row in alerts), alerts  # fmt: skip
    progress = artifacts["pyros-sequence-progress"]
    assert float(progress["data"]) == 100.0, progress
    assert progress["description"].endswith("executed."), progress
    time.sleep(5)
    assert len(_runs(instance)) == 1


# PostgreSQL: the retraction's cancel and the run's own stop race on the sequence's state (the
# compare-and-set in infra/db/sequence_state.py) on the production backend.
@only_on("postgresql")
@pytest.mark.timeout(1200)
def test_a_retraction_mid_follow_up_ends_the_run_completed_with_the_reason(
    instance, engine, tmp_path
):
    _prepare(instance)
    instance.pyros("up", "--json", timeout=300)
    notice = tmp_path / "grb.xml"
    notice.write_bytes(variant(SYNTHETIC, error=0.002))
    instance.pyros("alert", "send", str(notice), timeout=120)

    def running():
        runs = _runs(instance)
        return runs if runs and runs[0].state is not None and runs[0].state.is_running() else None

    eventually(running, within_s=300, what="the follow-up run running", every_s=1.0)

    def first_image():
        with session_scope(engine) as session:
            return session.scalars(select(Image).where(Image.alert_ivorn.is_not(None))).first()

    eventually(first_image, within_s=300, what="a follow-up frame", every_s=0.5)
    retraction = tmp_path / "retraction.xml"
    retraction.write_bytes(
        variant(
            SYNTHETIC,
            ivorn="ivo://nasa.gsfc.gcn/SWIFT#Retraction_876016-1",
            citations=[("ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_876016-475", "retraction")],
        )
    )
    sent = time.monotonic()
    instance.pyros("alert", "send", str(retraction), timeout=120)

    def ended():
        runs = _runs(instance)
        return runs if runs[0].state is not None and runs[0].state.is_final() else None

    (run,) = eventually(ended, within_s=120, what="the follow-up run ended", every_s=0.5)
    print(f"retraction sent -> run {run.state.name} in {time.monotonic() - sent:.1f} s wall")
    assert run.state.type.value == "COMPLETED", run.state
    assert run.state.message.startswith("withdrawn: "), run.state.message
    with session_scope(engine) as session:
        states = session.scalars(select(Sequence.state).join(Alert, Alert.request_id ==
                                 Sequence.request_id)).all()  # fmt: skip
    assert set(states) == {"cancelled"}, states


# One backend: what is shown and what does not move does not depend on it.
@only_on("sqlite")
@pytest.mark.timeout(900)
def test_in_manual_mode_nothing_moves_and_the_alert_is_shown_to_the_operator(
    instance, engine, tmp_path
):
    clock = parse_clock(_prepare(instance))
    instance.pyros("up", "--json", timeout=300)
    instance.pyros("mode", "MANUAL", "--by", "night-operator", timeout=60)
    config = load_config(instance.home / "site.toml")
    mount = connect_mount(
        config, clock=clock, address=("127.0.0.1", instance.gateway_ports["mount"])
    )
    try:
        before = mount.status()
        notice = tmp_path / "grb.xml"
        notice.write_bytes(variant(SYNTHETIC, error=0.002))
        instance.pyros("alert", "send", str(notice), timeout=120)

        def alert_row() -> Alert | None:
            with session_scope(engine) as session:
                row = session.scalars(select(Alert)).first()
                if row is not None:
                    session.expunge(row)
                return row

        alert = eventually(alert_row, within_s=120, what="the alert decided", every_s=0.5)
        assert alert.decision == "ignored" and alert.reason.startswith("MANUAL mode: would be"), (
            alert.decision,
            alert.reason,
        )

        # Shown: the alerts artifact has it with the reason (the operator decides).
        def shown():
            artifacts = {a["key"]: a for a in stack_artifacts(instance)}
            rows = artifact_table(artifacts["pyros-alerts"]) if "pyros-alerts" in artifacts else []
            return [r for r in rows if r.get("burst") == alert.burst_key] or None

        (row,) = eventually(shown, within_s=60, what="the alert in pyros-alerts", every_s=1.0)
        assert row["decision"] == "ignored", row
        # Nothing moved: the mount never got a target or an alert lease; no follow-up run.
        time.sleep(5)
        after = mount.status()
        assert (after.target_ra_deg, after.target_dec_deg) == (
            before.target_ra_deg,
            before.target_dec_deg,
        )
        lease = after.gateway.lease if after.gateway is not None else None
        assert lease is None or lease.priority is not Priority.ALERT, lease
        assert _runs(instance) == []
        with session_scope(engine) as session:
            attention = [
                e.payload["payload"]["ivorn"]
                for e in session.scalars(select(JournalEntry).where(JournalEntry.kind == "event"))
                if e.payload["event"] == "pyros.alert.attention"
            ]
        assert attention == [alert.ivorn], attention
    finally:
        mount.disconnect()
