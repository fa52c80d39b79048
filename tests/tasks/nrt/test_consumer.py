"""The long-lived consumer on Image rows inserted for rendered frames (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from infra.db import session_scope
from infra.db.models import Alert, Image, JournalEntry, NrtAnalysis, Sequence
from simulators.sky import SimulatedReferenceCatalog
from tasks.nrt.consumer import NrtConsumer
from tasks.requests.ingest import ingest_request_bytes
from tests.support.nrt_sky import NIGHT
from tests.support.requests import request_xml, sequence_xml
from tests.tasks.nrt.conftest import IVORN, TRIGGER


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
