"""The follow-up's work on real sockets (no Prefect): it inherits the reflex's leases, takes the
strategy's exposures without a second slew, follows a re-point with the new circle, and ends
with the reason when the burst is withdrawn, exposures aborted."""

from __future__ import annotations

import itertools
import math
import re
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from devices.controllers import Priority
from infra.config import load_config
from infra.db import session_scope
from infra.db.models import Image, Sequence
from tasks.alerts.followup_policy import render_markdown
from tasks.alerts.followup_run import FollowUpHooks, FollowUpRun, _analysed_elsewhere
from tasks.alerts.parse import issued_at_hint
from tasks.nrt import analysis_rows as store
from tests.devices.conftest import controller_for, fake_device, gateway_for  # noqa: F401
from tests.support.alert_reflex import alert_clock, deliver, reflex_listener, reflex_site
from tests.support.voevents import FERMI_LONG, SYNTHETIC, read_voevents, variant
from tests.support.waiting import eventually


@pytest.fixture
def site(fake_device, gateway_for, controller_for):  # noqa: F811
    # 30 s exposures last 0.3 s wall.
    return reflex_site(fake_device, gateway_for, controller_for, time_scale=0.01)


def _follow(engine, site, tmp_path, clock, burst_key):
    dome = site.make(site.gateways["dome"], clock=clock)

    def open_dome(reason: str) -> None:  # what the environment monitor does when asked
        dome.claim("environment-monitor", Priority.SAFETY)
        dome.open()

    hooks = FollowUpHooks(request_dome=open_dome)
    return FollowUpRun(burst_key, site.night_devices(clock), load_config(), clock,
                       tmp_path / "frames", engine, hooks=hooks)  # fmt: skip


def _states(engine, request_id):
    with session_scope(engine) as session:
        rows = session.scalars(select(Sequence).where(Sequence.request_id == request_id))
        return [s.state for s in rows]


def test_the_follow_up_inherits_the_lease_and_takes_every_exposure_without_a_second_slew(
    engine, site, tmp_path
):
    clock = alert_clock()
    listener, reflex = reflex_listener(tmp_path / "spool", engine, site, clock)
    deliver(listener)
    decision = listener.last_decision
    result = _follow(engine, site, tmp_path, clock, decision.burst_key).run()
    assert result.reason == "follow-up done: no sequence left", result.record.steps
    assert result.record.images == 20  # swift-bat: 10 × r and 10 × J
    assert [o["state"] for o in result.outcomes] == ["executed"]
    assert len(site.fakes["mount"].received("GOTO")) == 1  # the reflex's slew only
    assert _states(engine, decision.request_id) == ["executed"]
    owners = {r.owner for r in site.fakes["camera_vis"].received("EXPOSE")}
    assert owners == {f"alert:{decision.burst_key}"}
    eventually(lambda: reflex.tick() or reflex.holding() == [], within_s=5, what="handed over")
    reflex.close()


def test_a_retraction_ends_the_follow_up_with_the_reason_and_aborts_the_exposures(
    engine, site, tmp_path
):
    site.fakes["camera_vis"].time_scale = site.fakes["camera_nir"].time_scale = 1.0
    clock = alert_clock()
    listener, reflex = reflex_listener(tmp_path / "spool", engine, site, clock)
    deliver(listener)
    decision = listener.last_decision
    work = _follow(engine, site, tmp_path, clock, decision.burst_key)
    ended: list = []
    thread = threading.Thread(target=lambda: ended.append(work.run()), daemon=True)
    thread.start()
    eventually(lambda: site.fakes["camera_vis"].received("EXPOSE"), within_s=20, what="exposing")
    retraction = variant(
        SYNTHETIC,
        ivorn="ivo://nasa.gsfc.gcn/SWIFT#Retraction_876016-1",
        citations=[(decision.ivorn, "retraction")],
    )
    deliver(listener, retraction)
    assert listener.last_decision.action == "cancel", listener.last_decision
    thread.join(10)
    assert ended, "the follow-up did not end after the retraction"
    assert ended[0].reason.startswith("withdrawn: "), ended[0].reason
    assert _states(engine, decision.request_id) == ["cancelled"]
    assert site.fakes["camera_vis"].received("ABORT")
    with session_scope(engine) as session:  # no image of the 30 s exposures was taken
        assert not session.scalars(select(Image)).all()
    reflex.close()


def test_a_re_point_moves_the_mount_and_the_follow_up_continues_with_the_new_circle(
    engine, site, tmp_path
):
    site.fakes["camera_vis"].time_scale = site.fakes["camera_nir"].time_scale = 0.03
    clock = alert_clock()
    listener, reflex = reflex_listener(tmp_path / "spool", engine, site, clock)
    deliver(listener)
    first = listener.last_decision
    work = _follow(engine, site, tmp_path, clock, first.burst_key)
    ended: list = []
    thread = threading.Thread(target=lambda: ended.append(work.run()), daemon=True)
    thread.start()
    eventually(lambda: len(site.fakes["camera_vis"].received("EXPOSE")) >= 2, within_s=20,
               what="exposing")  # fmt: skip
    better = variant(
        SYNTHETIC,
        ivorn="ivo://nasa.gsfc.gcn/SWIFT#XRT_Position_876016-1",
        ra=first.ra_deg + 0.25,
        error=0.002,
    )
    deliver(listener, better)
    moved = listener.last_decision
    assert (moved.decision, moved.action) == ("follow-up", "re-point"), moved
    thread.join(60)
    assert ended and ended[0].reason == "follow-up done: no sequence left", ended
    gotos = [r.line["command"][0] for r in site.fakes["mount"].received("GOTO")]
    assert [g["ra_deg"] for g in gotos] == pytest.approx([first.ra_deg, moved.ra_deg])
    assert _states(engine, first.request_id) == ["cancelled"]
    assert _states(engine, moved.request_id) == ["executed"]
    assert work.record.ivorn == moved.ivorn
    reflex.close()


def test_a_tiled_error_box_is_observed_tile_by_tile_in_the_strategy_s_order(engine, site, tmp_path):
    clock = alert_clock()
    listener, reflex = reflex_listener(tmp_path / "spool", engine, site, clock)
    issued = issued_at_hint(SYNTHETIC)
    ra, dec = _synthetic_position()  # observable at the clock
    gbm = variant(
        read_voevents()[FERMI_LONG], ivorn="ivo://nasa.gsfc.gcn/Fermi#GBM_Fin_Pos_test-1",
        ra=ra, dec=dec, error=0.5, date=issued, event_time=issued - timedelta(seconds=40),
    )  # fmt: skip
    deliver(listener, gbm)
    decision = listener.last_decision
    assert (decision.decision, decision.strategy, decision.tiles) == (
        "follow-up", "gbm-gecam-wide", 9), decision  # fmt: skip
    result = _follow(engine, site, tmp_path, clock, decision.burst_key).run()
    assert result.reason == "follow-up done: no sequence left", result.record.steps
    tiles = result.as_dict()["tiles"]
    assert [t["tile"] for t in tiles] == list(range(1, 10))
    ids = [t["sequence_id"] for t in tiles]
    assert ids == sorted(ids) and [o["sequence_id"] for o in result.outcomes] == ids
    assert {(t["state"], t["images"]) for t in tiles} == {("executed", 2)}  # 2 x 60 s r each
    # The mount went to the tiles' centres in the request's order: nearest the burst first.
    gotos = [r.line["command"][0] for r in site.fakes["mount"].received("GOTO")]
    with session_scope(engine) as session:
        targets = [session.get(Sequence, i).target_coords for i in ids]
    expected = [tuple(float(v) for v in t.split()) for t in targets]
    went = [value for g in gotos[-9:] for value in (g["ra_deg"], g["dec_deg"])]
    assert went == pytest.approx([value for pair in expected for value in pair], abs=1e-4)
    offsets = [_separation_deg(r, d, ra, dec) for r, d in expected]
    assert offsets[0] < 1e-6 and all(b >= a - 1e-6 for a, b in itertools.pairwise(offsets))
    text = render_markdown(result.record)
    assert "## Tiles (9 of 9 observed)" in text
    # A 0.5 deg GBM circle (68 % within it) is wholly tiled: the 9 cells hold more than that.
    covered = re.search(r"- tiled: all tiles, (\d+)% of the burst's probability", text)
    assert covered is not None and 68 < int(covered.group(1)) < 100, text
    reflex.close()


def test_unsafe_weather_holds_the_follow_up_until_the_monitor_gives_the_mount_back(
    engine, site, tmp_path
):
    from infra.clock import SystemClock

    clock = alert_clock()
    monitor_mount, _ = site.controllers(SystemClock())
    monitor_lease = monitor_mount.claim("environment-monitor", Priority.SAFETY)
    listener, reflex = reflex_listener(tmp_path / "spool", engine, site, clock)
    deliver(listener)  # the reflex moves nothing: the follow-up is announced, waiting
    decision = listener.last_decision
    work = _follow(engine, site, tmp_path, clock, decision.burst_key)
    ended: list = []
    thread = threading.Thread(target=lambda: ended.append(work.run()), daemon=True)
    thread.start()
    eventually(lambda: any("weather unsafe" in s for s in work.record.steps), within_s=10,
               what="waiting for the weather")  # fmt: skip
    assert not site.fakes["mount"].received("GOTO") and not site.fakes["dome"].received("OPEN")
    monitor_lease.release()  # safe again: the monitor gives the mount back
    thread.join(60)
    assert ended and ended[0].reason == "follow-up done: no sequence left", ended
    assert _states(engine, decision.request_id) == ["executed"]
    assert len(site.fakes["mount"].received("GOTO")) == 1  # the follow-up's own slew
    reflex.close()


def _light_frame(engine, image_id: str, now: datetime) -> None:
    """A visible light frame's Image row (its file is never read)."""
    with session_scope(engine) as session:
        session.add(
            Image(
                id=image_id,
                index=0,
                instrument="Visible camera",
                filter="r",
                image_type="light",
                exposure_s=30.0,
                path=f"/nowhere/{image_id}.fits",
                sha256="0" * 64,
                size_bytes=0,
                acquired_at=now,
                wall_acquired_at=now,
            )
        )


def test_a_frame_the_block_s_consumer_claimed_first_is_taken_from_its_result(engine):
    # The follow-up's consumer lost the claim: it waits for the other analysis and counts it.
    now = datetime.now(UTC)
    _light_frame(engine, "F1", now)
    claimed = store.claim(engine, "F1", now)
    assert claimed is not None and store.claim(engine, "F1", now) is None
    candidate = {"ra_deg": 1.0, "dec_deg": 2.0, "snr": 12.0}

    def finish_elsewhere() -> None:
        threading.Event().wait(0.5)
        store.finish(engine, claimed, status=store.AnalysisStatus.DONE, now=now,
                     figures={"n_sources": 40}, results={"candidates": [candidate]})  # fmt: skip

    other = threading.Thread(target=finish_elsewhere)
    other.start()
    attempts: list[str] = []

    def attempt(image) -> None:
        attempts.append(image["id"])
        return store.claim(engine, image["id"], now, stale_before=now - timedelta(seconds=60))

    consumer = SimpleNamespace(db=engine, stale_before=lambda: now - timedelta(seconds=60))
    summary = _analysed_elsewhere(consumer, {"id": "F1"}, attempt)
    other.join()
    assert attempts == []  # the other claim was live throughout: never claimed again
    assert summary is not None
    assert (summary["status"], summary["n_sources"], summary["candidates"]) == (
        "done",
        40,
        [candidate],
    )


def test_a_frame_whose_other_consumer_stopped_mid_analysis_is_analysed_by_the_follow_up(engine):
    # The block's consumer was cut off after its claim: the follow-up's claims again until the
    # claim is abandoned (analysis_rows.claim takes it over), then analyses the frame itself.
    now = datetime.now(UTC)
    _light_frame(engine, "F2", now)
    dead = store.claim(engine, "F2", now)
    polls: list[datetime] = []
    tries: list[datetime] = []

    def stale_before() -> datetime:
        # Each poll a second later on the follow-up's clock; the lease here is 2 s.
        polls.append(now + timedelta(seconds=len(polls) + 1))
        return polls[-1] - timedelta(seconds=2)

    def attempt(image) -> dict | None:
        at = polls[-1]
        tries.append(at)
        claimed = store.claim(engine, image["id"], at, stale_before=at - timedelta(seconds=2))
        if claimed is None:
            return None
        store.finish(engine, claimed, status=store.AnalysisStatus.DONE, now=at,
                     figures={"n_sources": 7})  # fmt: skip
        return store.stored_summary(engine, image["id"])

    consumer = SimpleNamespace(db=engine, stale_before=stale_before)
    summary = _analysed_elsewhere(consumer, {"id": "F2"}, attempt)
    assert summary is not None and summary["analysis_id"] == dead.analysis_id, summary
    assert (summary["status"], summary["n_sources"]) == ("done", 7)
    # Live at +1 s and +2 s (not claimed), abandoned at +3 s: claimed once, and taken over.
    assert (len(polls), tries) == (3, [now + timedelta(seconds=3)])


def test_frames_the_night_s_service_analysed_first_are_counted_in_their_tiles(
    engine, site, tmp_path
):
    # The night's NRT service claimed two of the follow-up's frames first: they were never
    # pending for the follow-up's consumer. Their stored results fill their tiles' rows, once.
    now = datetime.now(UTC)
    candidate = {"ra": 1.0, "dec": 2.0, "snr": 40.0, "kind": "new", "method": "difference"}
    claims = {}
    for image_id in ("F5", "F6"):
        _light_frame(engine, image_id, now)
        claims[image_id] = store.claim(engine, image_id, now)
    store.finish(engine, claims["F5"], status=store.AnalysisStatus.DONE, now=now,
                 figures={"n_sources": 40}, results={"candidates": [candidate]})  # fmt: skip
    clock = alert_clock()
    service_only = SimpleNamespace(db=engine)  # this run's consumer analyses nothing
    work = FollowUpRun("GRB-X", site.night_devices(clock), load_config(), clock,
                       tmp_path / "frames", engine, consumer=service_only)  # fmt: skip
    work.frames.update({"F5": 11, "F6": 12})
    work.catch_up()  # F6's analysis is still running: not waited for between tiles
    assert (work.record.tile(11).analysed, work.record.tile(11).candidates) == (1, [candidate])
    assert work.record.tile(12).analysed == 0
    work.catch_up()
    assert work.record.analysed == 1  # counted once
    store.finish(engine, claims["F6"], status=store.AnalysisStatus.DONE, now=now,
                 figures={"n_sources": 30})  # fmt: skip
    work.catch_up(wait_s=5.0)
    assert [(t.analysed, len(t.candidates)) for t in work.record.tiles.values()] == [(1, 1), (1, 0)]
    assert "| 1/2 | 11 | waiting | 0 | 1 | 1 | RA 1.00000°" in render_markdown(work.record)


def _synthetic_position() -> tuple[float, float]:
    from lxml import etree

    root = etree.fromstring(SYNTHETIC)
    return float(root.find(".//C1").text), float(root.find(".//C2").text)


def _separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    from astropy.coordinates import angular_separation

    return math.degrees(angular_separation(*(math.radians(v) for v in (ra1, dec1, ra2, dec2))))
