"""The night report's alerts (#18): per alert, its follow-up's frames and analyses, the position
found, whether the injected afterglow was found, and how fast — from the database alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from astropy.table import Table

from infra.config import get_config
from infra.db import session_scope
from infra.db.models import Alert, Image, NrtAnalysis, Sequence, image_id
from infra.events import ALERT_FOLLOW_UP, emit
from tasks.night.alerts_report import alert_figures, night_alerts
from tasks.night.report import night_report
from tasks.night.report_render import render_markdown, report_as_dict
from tasks.requests.ingest import ingest_request_bytes
from tasks.scheduling.night_times import night_for
from tests.support.night_data import _At
from tests.support.requests import request_xml, sequence_xml

IVORN = "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_900000001-000"
TRUTH = (150.0, 20.0)


def _night(engine, tmp_path, *, truth: bool):
    config = get_config()
    label = "2026-11-24"
    night = night_for(label, config)
    received = night.start + timedelta(hours=1)
    wall = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
    xml = request_xml([sequence_xml("grb")], program="GRB")
    (sequence_id,) = ingest_request_bytes(xml.encode(), "a.xml", engine=engine).sequence_ids
    with session_scope(engine) as session:
        session.add(
            Alert(ivorn=IVORN, received_at=received, wall_received_at=wall, mission="Swift",
                  decision="follow-up", ra_deg=TRUTH[0], dec_deg=TRUTH[1])
        )  # fmt: skip
        session.add(
            Alert(ivorn="ivo://other#1", received_at=received + timedelta(minutes=5),
                  wall_received_at=wall, mission="Fermi", decision="ignored")
        )  # fmt: skip
        sequence = session.get(Sequence, sequence_id)
        plan = next(p for album in sequence.albums for p in album.plans)
        for index, after_s in enumerate((60.0, 90.0)):
            identifier = image_id(sequence_id, plan.id, index)
            path = tmp_path / f"{identifier}.fits"
            path.write_bytes(b"frame")
            if truth:
                Table({"kind": ["afterglow"], "ra": [TRUTH[0]], "dec": [TRUTH[1]]}).write(
                    tmp_path / f"{identifier}.truth.ecsv", format="ascii.ecsv"
                )
            at = received + timedelta(seconds=after_s)
            session.add(
                Image(id=identifier, sequence_id=sequence_id, plan_id=plan.id, index=index,
                      instrument="Visible", path=str(path), sha256="0" * 64, acquired_at=at,
                      wall_acquired_at=wall, alert_ivorn=IVORN)
            )  # fmt: skip
            session.flush()
            candidates = [
                # The alert's afterglow (0.3" from the truth), then a brighter new source
                # elsewhere on the frame that is not the alert's.
                {"ra": TRUTH[0] + 0.3 / 3600, "dec": TRUTH[1], "snr": 40.0 + index,
                 "alert_ivorn": IVORN},
                {"ra": 151.0, "dec": 21.0, "snr": 500.0},
            ]  # fmt: skip
            session.add(
                NrtAnalysis(image_id=identifier, status="done", started_at=at,
                            finished_at=at + timedelta(seconds=20),
                            results={"candidates": candidates})
            )  # fmt: skip
    slew = wall + timedelta(milliseconds=25)
    payload = {"ivorn": IVORN, "reflex": {"slew_sent_wall": slew.isoformat()}}
    emit(ALERT_FOLLOW_UP, "pyros.alert", payload, source="alert-listener", clock=_At(received))
    return config, label, night


def test_a_followed_alert_has_its_frames_position_afterglow_and_delays(engine, tmp_path):
    config, label, night = _night(engine, tmp_path, truth=True)
    with session_scope(engine) as session:
        lines = night_alerts(session, night.noon, night.noon + timedelta(days=1))
        report = night_report(session, label, config)
    followed, ignored = lines
    assert (followed.frames, followed.analysed) == (2, 2)
    # The alert's own candidate of highest SNR, not the brighter source that is not the alert's.
    assert followed.position == (TRUTH[0] + 0.3 / 3600, TRUTH[1]) and followed.position_snr == 41
    assert followed.afterglow_found is True
    assert followed.alert_to_slew_s == 0.025  # wall
    assert followed.alert_to_first_frame_s == 60.0  # simulated
    assert followed.alert_to_afterglow_s == 80.0  # the first frame's analysis ended at 60 + 20
    assert (ignored.decision, ignored.frames, ignored.afterglow_found) == ("ignored", 0, None)
    figures = alert_figures(lines)
    assert (figures["alerts_received"], figures["alerts_followed"]) == (2, 1)
    assert figures["afterglows_found"] == 1 and figures["alerts"][0]["ivorn"] == IVORN
    # The report carries them: summary, JSON and Markdown.
    assert report.summary["afterglows_found"] == 1
    assert report_as_dict(report)["alerts"][0]["alert_to_first_frame_s"] == 60.0
    markdown = render_markdown(report)
    assert (
        "## Alerts" in markdown
        and IVORN in markdown
        and "| yes | 0.03 | 60.00 | 80.00 |" in (markdown)
    )


def test_without_truth_the_afterglow_is_not_claimed_but_the_position_is_given(engine, tmp_path):
    *_, night = _night(engine, tmp_path, truth=False)
    with session_scope(engine) as session:
        followed, _ = night_alerts(session, night.noon, night.noon + timedelta(days=1))
    assert followed.afterglow_found is None and followed.alert_to_afterglow_s is None
    assert followed.position is not None  # a position is still found: the night says where
    assert alert_figures([followed])["afterglows_found"] == 0


def test_a_night_without_alerts_has_no_section(engine):
    config = get_config()
    with session_scope(engine) as session:
        report = night_report(session, "2026-11-20", config)
    assert report.summary["alerts_received"] == 0 and report.alerts == []
    assert "## Alerts" not in render_markdown(report)
