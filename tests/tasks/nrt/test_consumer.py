"""The long-lived consumer on Image rows inserted for rendered frames (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta

import pytest
from astropy.io import fits
from astropy.table import Table
from sqlalchemy import select, update

from infra.db import session_scope
from infra.db.models import Alert, Image, JournalEntry, NrtAnalysis, Sequence
from simulators.sky import SimulatedReferenceCatalog
from tasks.nrt import analysis_rows as store
from tasks.nrt.astrometry import separation_arcsec
from tasks.nrt.consumer import NrtConsumer
from tasks.requests.ingest import ingest_request_bytes
from tests.support.nrt_sky import NIGHT, afterglow
from tests.support.requests import request_xml, sequence_xml
from tests.tasks.nrt.conftest import FIELD, IVORN, TRIGGER


def _sequence(engine, config) -> int:
    xml = request_xml(sequence_xml("follow-up", coords="110.828 18.084"), target_type="sidereal")
    result = ingest_request_bytes(
        xml.encode(),
        "nrt-test.xml",
        engine=engine,
        config=config,
        submitted_at=NIGHT - timedelta(hours=1),
    )
    return result.sequence_ids[0]


def _image(engine, path, image_id, sequence_id=None, index=0, ivorn=None, when=NIGHT) -> None:
    with session_scope(engine) as session:
        session.add(
            Image(
                id=image_id,
                sequence_id=sequence_id,
                index=index,
                instrument="Visible camera",
                filter="r",
                image_type="light",
                exposure_s=60.0,
                path=str(path),
                sha256="0" * 64,
                size_bytes=0,
                acquired_at=when,
                wall_acquired_at=datetime.now(UTC),
                alert_ivorn=ivorn,
            )
        )


def _alert(engine, ra, dec, error_arcsec) -> None:
    with session_scope(engine) as session:
        session.add(
            Alert(
                ivorn=IVORN,
                received_at=TRIGGER + timedelta(seconds=30),
                wall_received_at=datetime.now(UTC),
                ra_deg=ra,
                dec_deg=dec,
                error_radius_deg=error_arcsec / 3600.0,
                event_time=TRIGGER,
                decision="follow-up",
            )
        )


def _rows(engine):
    with session_scope(engine) as session:
        rows = session.scalars(select(NrtAnalysis).order_by(NrtAnalysis.id)).all()
        return [
            (
                r.image_id,
                r.status,
                r.reason,
                r.n_sources,
                r.fwhm_arcsec,
                r.limiting_mag,
                r.zero_point,
                r.astrometry_rms_arcsec,
                r.results,
            )
            for r in rows
        ]


def test_a_follow_up_sequence_gives_candidates_a_fading_light_curve_and_events(
    nrt_bank, engine, sim_clock, masters
):
    config = nrt_bank.config
    sequence_id = _sequence(engine, config)
    _alert(engine, nrt_bank.glow_ra, nrt_bank.glow_dec - 1.5 / 3600, 4.0)
    for k, path in enumerate(nrt_bank.sequence):
        _image(engine, path, f"F{k}", sequence_id, k, IVORN, NIGHT + timedelta(minutes=4 * k))
    published = []
    consumer = NrtConsumer(
        SimulatedReferenceCatalog(config.sky),
        engine=engine,
        config=config,
        on_result=published.append,
    )
    # The sequence is still executing: the consumer would wait; a block's end stops it.
    with session_scope(engine) as session:
        session.execute(
            update(Sequence).where(Sequence.id == sequence_id).values(state="executing")
        )
    summary = consumer.run(sequence_id=sequence_id, until=sim_clock.now())
    assert (summary.done, summary.failed) == (3, 0)
    assert summary.stopped.startswith("reached ")
    rows = _rows(engine)
    assert [r[:3] for r in rows] == [("F0", "done", ""), ("F1", "done", ""), ("F2", "done", "")]
    for _, _, _, n_sources, fwhm, depth, zero_point, astrometry, results in rows:
        assert n_sources > 20 and 1.4 < fwhm < 3.5 and 19 < depth < 24
        assert 23 < zero_point < 26 and astrometry < 0.2
        assert results["calibration"]["missing"] == {} and results["alert_ivorn"] == IVORN
        (candidate,) = results["candidates"]
        assert candidate["kind"] == "alert" and candidate["track_id"] == 1
    mags = [r[8]["candidates"][0]["mag"] for r in rows]
    assert mags[0] < mags[1] < mags[2]  # it fades
    (curve,) = rows[-1][8]["light_curves"]
    assert curve["detections"] == 3 and curve["fading"]
    assert curve["alpha"] == pytest.approx(1.0, abs=0.3)  # the rendered power law: alpha = 1
    assert [p["image_id"] for p in curve["points"]] == ["F0", "F1", "F2"]
    assert [p["status"] for p in published] == ["done"] * 3
    with session_scope(engine) as session:
        events = session.scalars(select(JournalEntry).where(JournalEntry.kind == "event")).all()
        announced = [e.payload for e in events if e.payload["event"] == "pyros.nrt.candidate"]
    assert len(announced) == 3
    assert announced[0]["resource"]["prefect.resource.id"] == "pyros.image.F0"
    assert announced[0]["related"][0]["prefect.resource.id"] == f"pyros.alert.{IVORN}"

    # A consumer restarted mid-sequence continues the light curve from the stored results.
    copy = shutil.copy(nrt_bank.sequence[2], nrt_bank.sequence[2].with_name("follow-3.fits"))
    try:
        _image(engine, copy, "F3", sequence_id, 3, IVORN, NIGHT + timedelta(minutes=12))
        with session_scope(engine) as session:
            session.execute(
                update(Sequence).where(Sequence.id == sequence_id).values(state="executed")
            )
        again = NrtConsumer(SimulatedReferenceCatalog(config.sky), engine=engine, config=config)
        summary = again.run(sequence_id=sequence_id)
        assert summary.done == 1 and summary.stopped == f"sequence {sequence_id} is executed"
        (curve,) = _rows(engine)[-1][8]["light_curves"]
        assert curve["detections"] == 4
    finally:
        copy.unlink()


def _near(candidates, ra, dec, arcsec=1.0):
    return [c for c in candidates if separation_arcsec(c["ra"], c["dec"], ra, dec) <= arcsec]


def _lone_star(frame, mag_range=(16.0, 18.0), margin_px=100, alone_arcsec=10.0):
    """A star of the rendered ``frame`` (its truth table), well inside it, with no star brighter
    than magnitude 21 within ``alone_arcsec``."""
    truth = Table.read(str(frame).replace(".fits", ".truth.ecsv"))
    stars = truth[(truth["kind"] == "star") & (truth["mag"] < 21.0)]
    height, width = fits.getdata(frame).shape
    for star in stars:
        inside = (
            margin_px < star["x"] < width - margin_px and margin_px < star["y"] < height - margin_px
        )
        if not (inside and mag_range[0] <= star["mag"] <= mag_range[1]):
            continue
        others = separation_arcsec(stars["ra"], stars["dec"], star["ra"], star["dec"])
        if (others < alone_arcsec).sum() == 1:
            return float(star["ra"]), float(star["dec"]), float(star["mag"])
    raise AssertionError("no lone star in the test field")


def test_a_tile_of_a_large_error_box_is_searched_blindly_and_finds_afterglows_even_on_stars(
    nrt_bank, engine, sim_clock, masters
):
    """A GBM-like circle (3 deg, centred 1.5 deg away) covers the whole frame, so the circle
    cannot tell an afterglow from a star: an afterglow merged with a catalog star is found only
    by the blind difference search, and one away from stars by both paths."""
    config, maker = nrt_bank.config, nrt_bank.maker
    catalog = SimulatedReferenceCatalog(config.sky)
    star_ra, star_dec, star_mag = _lone_star(nrt_bank.sequence[0])
    on_ra, on_dec = star_ra, star_dec + 0.4 / 3600.0  # 0.4 arcsec from the star's centre
    glows = (
        afterglow(nrt_bank.glow_ra, nrt_bank.glow_dec, NIGHT, mag_at_start=18.5),
        afterglow(on_ra, on_dec, NIGHT, mag_at_start=star_mag + 0.3, name="on a star"),
    )
    path = maker.light("tile", *FIELD, NIGHT, afterglows=glows, alert_ivorn=IVORN)
    sequence_id = _sequence(engine, config)
    _alert(engine, on_ra, on_dec + 1.5, 3.0 * 3600.0)
    for image_id in ("TILE", "CIRCLE-ONLY"):
        _image(engine, path, image_id, sequence_id, 0, IVORN)
    row = {"path": path, "sequence_id": sequence_id, "alert_ivorn": IVORN}
    off = config.model_copy(update={"nrt": config.nrt.model_copy(update={"blind_search": "off"})})
    without = NrtConsumer(catalog, engine=engine, config=off).process({**row, "id": "CIRCLE-ONLY"})
    tiled = NrtConsumer(catalog, engine=engine, config=config).process({**row, "id": "TILE"})

    assert without["status"] == tiled["status"] == "done"
    # Without the blind search: the afterglow away from stars is an aperture "new" candidate;
    # the one on the star is not found (as a brightened star, the 1.5 deg chance rejects it).
    (away,) = _near(without["candidates"], nrt_bank.glow_ra, nrt_bank.glow_dec)
    assert away["kind"] == "new" and "method" not in away
    assert not _near(without["candidates"], on_ra, on_dec, 2.0), without["candidates"]
    # With it: both, measured on the difference, each carrying the alert.
    (away,) = _near(tiled["candidates"], nrt_bank.glow_ra, nrt_bank.glow_dec)
    (on_star,) = _near(tiled["candidates"], on_ra, on_dec)
    for found in (away, on_star):
        assert found["method"] == "difference" and found["alert_ivorn"] == IVORN, found
    assert on_star["kind"] == "brightened"
    assert on_star["alert_distance_arcsec"] == pytest.approx(5400.0, abs=5.0)
    assert on_star["mag"] == pytest.approx(star_mag + 0.3, abs=0.3)
    results = {r[0]: r[8] for r in _rows(engine)}
    assert "blind_search" not in results["CIRCLE-ONLY"]
    assert results["TILE"]["blind_search"]["kept"] >= 2, results["TILE"]["blind_search"]
    assert on_star in results["TILE"]["candidates"]


def test_bad_frames_are_failed_with_their_reason_and_the_consumer_goes_on(
    nrt_bank, engine, sim_clock, masters
):
    config = nrt_bank.config
    order = ["truncated", "no-filter", "no-wcs", "unknown-filter", "all-nan", "saturated", "clouds"]
    for k, name in enumerate(order):
        _image(engine, nrt_bank.bad[name], f"B{k}", when=NIGHT + timedelta(seconds=k))
    _image(engine, nrt_bank.sequence[1], "GOOD", when=NIGHT + timedelta(minutes=5))
    _image(
        engine,
        nrt_bank.bad["truncated"].with_name("gone.fits"),
        "GONE",
        when=NIGHT + timedelta(minutes=6),
    )
    consumer = NrtConsumer(SimulatedReferenceCatalog(config.sky), engine=engine, config=config)
    summary = consumer.run(idle_timeout_s=0.0)
    assert (summary.done, summary.failed) == (1, 8)
    assert summary.stopped == "no new frame for 0 s"
    rows = {r[0]: r for r in _rows(engine)}
    assert rows["GOOD"][1] == "done"
    expected = {
        "B0": "calibration: ",
        "B1": "FILTER is missing",
        "B2": "no initial WCS",
        "B3": "unknown filter 'V'",
        "B4": "are NaN",
        "B5": "saturated or bad",
        "B6": "usable sources detected",
        "GONE": "no such file",
    }
    for image_id, words in expected.items():
        assert rows[image_id][1] == "failed" and words in rows[image_id][2], rows[image_id][2]


def test_the_consumer_waits_for_frames_and_stops_when_asked(nrt_bank, engine, sim_clock, masters):
    config = nrt_bank.config
    consumer = NrtConsumer(SimulatedReferenceCatalog(config.sky), engine=engine, config=config)
    stop = threading.Event()
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.update(s=consumer.run(stop=stop, idle_timeout_s=60))
    )
    thread.start()
    try:
        _image(engine, nrt_bank.sequence[0], "LATE")
        consumer.notify()
        for _ in range(200):
            with session_scope(engine) as session:
                status = session.scalar(select(NrtAnalysis.status))
            if status == "done":
                break
            threading.Event().wait(0.05)
    finally:
        stop.set()
        consumer.notify()
        thread.join(timeout=30)
    assert outcome["s"].done == 1 and outcome["s"].stopped == "stop requested"


def test_a_frame_two_consumers_see_is_analysed_once_and_the_loser_can_read_the_result(
    nrt_bank, engine, sim_clock, masters
):
    # Both consumers read the same batch before either claims (as overlapping blocks do).
    config = nrt_bank.config
    _image(engine, nrt_bank.bad["no-filter"], "SHARED")
    first, second = (
        NrtConsumer(SimulatedReferenceCatalog(config.sky), engine=engine, config=config)
        for _ in range(2)
    )
    batch = store.pending_images(engine)
    assert [row["id"] for row in batch] == ["SHARED"]
    assert store.stored_summary(engine, "SHARED") is None
    won = first.process(batch[0])
    assert won is not None and won["status"] == "failed"
    assert second.process(batch[0]) is None
    assert [row[:2] for row in _rows(engine)] == [("SHARED", "failed")]
    stored = store.stored_summary(engine, "SHARED")
    assert stored is not None
    assert (stored["status"], stored["reason"]) == ("failed", won["reason"])
    assert stored["analysis_id"] == won["analysis_id"]
    ran = second.run(idle_timeout_s=0.0)
    assert ran.done + ran.failed == 0


def test_concurrent_claims_of_one_frame_give_exactly_one_analysis(nrt_bank, engine, sim_clock):
    _image(engine, nrt_bank.bad["no-filter"], "RACED")
    start = threading.Barrier(6)
    claims: list[store.Claim | None] = []

    def claim() -> None:
        start.wait()
        claims.append(store.claim(engine, "RACED", NIGHT))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(claims) == 6
    assert len([c for c in claims if c is not None]) == 1, claims
    assert len(_rows(engine)) == 1


def _dead_claim(engine, image_id: str, at: datetime) -> store.Claim:
    """A claim whose consumer stopped mid-analysis (a cancelled follow-up, a killed worker)."""
    claimed = store.claim(engine, image_id, at)
    assert claimed is not None and claimed.takeover == 0
    return claimed


def test_a_claim_abandoned_mid_analysis_is_taken_over_once_its_lease_has_passed(
    nrt_bank, engine, sim_clock
):
    _image(engine, nrt_bank.bad["no-filter"], "ORPHAN")
    dead = _dead_claim(engine, "ORPHAN", NIGHT)
    lease = timedelta(seconds=store.CLAIM_LEASE_WALL_S)
    # Within the lease the claim is live: not listed, not claimable.
    assert store.pending_images(engine, stale_before=NIGHT) == []
    assert store.claim(engine, "ORPHAN", NIGHT + lease / 2, stale_before=NIGHT) is None
    # Past it, listed again and taken over: the same row, claimed again, never a second one.
    later = NIGHT + lease * 2
    listed = store.pending_images(engine, stale_before=later - lease)
    assert [row["id"] for row in listed] == ["ORPHAN"]
    assert store.claim(engine, "ORPHAN", later, stale_before=later - lease) == (
        dead.analysis_id,
        1,
    )
    with session_scope(engine) as session:
        row = session.get(NrtAnalysis, dead.analysis_id)
        assert (row.status, row.started_at) == ("running", later)
    # Taken over just now: live again for everyone else.
    assert store.claim(engine, "ORPHAN", later, stale_before=later - lease) is None
    assert len(_rows(engine)) == 1


def test_an_ended_analysis_is_never_taken_over_however_old(nrt_bank, engine, sim_clock):
    _image(engine, nrt_bank.bad["no-filter"], "ENDED")
    consumer = NrtConsumer(
        SimulatedReferenceCatalog(nrt_bank.config.sky), engine=engine, config=nrt_bank.config
    )
    assert consumer.process(store.pending_images(engine)[0]) is not None
    much_later = NIGHT + timedelta(days=2)
    assert store.pending_images(engine, stale_before=much_later) == []
    assert store.claim(engine, "ENDED", much_later, stale_before=much_later) is None


def test_a_consumer_analyses_a_frame_whose_consumer_stopped_mid_analysis(
    nrt_bank, engine, sim_clock
):
    # The follow-up cut off by a night's end left its claim running: the next consumer, once the
    # lease has passed on its clock, analyses the frame (the frame is no longer pending).
    _image(engine, nrt_bank.bad["no-filter"], "CUT-OFF")
    dead = _dead_claim(engine, "CUT-OFF", sim_clock.now())
    consumer = NrtConsumer(
        SimulatedReferenceCatalog(nrt_bank.config.sky), engine=engine, config=nrt_bank.config
    )
    assert consumer.run(idle_timeout_s=0.0).failed == 0  # still within the lease
    sim_clock.advance(store.CLAIM_LEASE_WALL_S + 1)
    ran = consumer.run(idle_timeout_s=0.0)
    assert ran.done + ran.failed == 1
    assert [row[:2] for row in _rows(engine)] == [("CUT-OFF", "failed")]
    assert store.stored_summary(engine, "CUT-OFF")["analysis_id"] == dead.analysis_id


def test_the_lease_is_wall_seconds_whatever_the_clock_s_speed(nrt_bank, engine):
    # The lease is wall seconds: at 100x, 60 of them are 6,000 simulated seconds.
    import time

    from infra.clock import SimulatedClock

    clock = SimulatedClock(NIGHT, speed=100.0, wall_epoch=time.time())
    consumer = NrtConsumer(
        SimulatedReferenceCatalog(nrt_bank.config.sky),
        engine=engine,
        config=nrt_bank.config,
        clock=clock,
    )
    lease = consumer.clock.now() - consumer.stale_before()
    assert abs(lease.total_seconds() - store.CLAIM_LEASE_WALL_S * 100.0) < 100.0


def test_concurrent_takeovers_of_an_abandoned_claim_give_it_to_one(nrt_bank, engine, sim_clock):
    _image(engine, nrt_bank.bad["no-filter"], "ABANDONED")
    dead = _dead_claim(engine, "ABANDONED", NIGHT)
    later = NIGHT + timedelta(hours=1)
    start = threading.Barrier(6)
    claims: list[store.Claim | None] = []

    def take_over() -> None:
        start.wait()
        claims.append(store.claim(engine, "ABANDONED", later, stale_before=later))

    threads = [threading.Thread(target=take_over) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(claims, key=lambda c: c is None) == [(dead.analysis_id, 1)] + [None] * 5
    assert len(_rows(engine)) == 1


def test_a_frame_that_stops_every_consumer_is_recorded_failed_not_handed_on(
    nrt_bank, engine, sim_clock
):
    _image(engine, nrt_bank.bad["no-filter"], "POISON")
    at = NIGHT
    dead = _dead_claim(engine, "POISON", at)
    for takeover in range(1, store.MAX_ABANDONED):  # taken over, and abandoned again
        at += timedelta(hours=1)
        assert store.claim(engine, "POISON", at, stale_before=at) == (dead.analysis_id, takeover)
    at += timedelta(hours=1)
    assert store.claim(engine, "POISON", at, stale_before=at) is None
    ((image_id, status, reason, *_),) = _rows(engine)
    assert (image_id, status) == ("POISON", "failed")
    assert f"{store.MAX_ABANDONED} consumers stopped during it" in reason
    assert store.pending_images(engine, stale_before=at + timedelta(hours=1)) == []


def test_an_analysis_that_outlived_its_lease_records_nothing_over_its_taker_s(
    nrt_bank, engine, sim_clock
):
    # The first consumer was slow, not dead: its claim was taken over. Whichever ends first,
    # only the taker's outcome is stored, once.
    _image(engine, nrt_bank.bad["no-filter"], "SLOW")
    slow = _dead_claim(engine, "SLOW", NIGHT)
    later = NIGHT + timedelta(hours=1)
    taker = store.claim(engine, "SLOW", later, stale_before=later)
    assert taker == (slow.analysis_id, 1)
    done = store.AnalysisStatus.DONE
    assert not store.finish(engine, slow, status=done, now=later, figures={"n_sources": 1})
    assert [row[:2] for row in _rows(engine)] == [("SLOW", "running")]
    assert store.finish(engine, taker, status=store.AnalysisStatus.FAILED, now=later, reason="r")
    assert not store.finish(engine, slow, status=done, now=later, figures={"n_sources": 1})
    assert [row[:3] for row in _rows(engine)] == [("SLOW", "failed", "r")]


def test_a_consumer_whose_claim_was_taken_over_mid_analysis_reports_nothing(
    nrt_bank, engine, sim_clock
):
    # The lease passes while the consumer analyses (here its calibration is that slow: another
    # consumer takes the claim over meanwhile): no summary, no outcome over the taker's.
    from tasks.calibration.calibrator import ScienceCalibrator

    _image(engine, nrt_bank.bad["no-filter"], "OVERTAKEN")
    taken: list[store.Claim | None] = []

    class OvertakenCalibrator(ScienceCalibrator):
        def calibrate(self, *args, **kwargs):
            later = NIGHT + timedelta(days=1)
            taken.append(store.claim(engine, "OVERTAKEN", later, stale_before=later))
            return super().calibrate(*args, **kwargs)

    config = nrt_bank.config
    consumer = NrtConsumer(
        SimulatedReferenceCatalog(config.sky),
        engine=engine,
        config=config,
        calibrator=OvertakenCalibrator(engine=engine, config=config),
    )
    assert consumer.process(store.pending_images(engine)[0]) is None
    assert taken and taken[0] is not None and taken[0].takeover == 1
    assert [row[:2] for row in _rows(engine)] == [("OVERTAKEN", "running")]
