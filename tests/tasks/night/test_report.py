"""The night report: every figure counted from the database, the reasons shown, the files written
whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from infra.config import get_config
from infra.db import session_scope
from infra.db.models import Image, Sequence, image_id
from infra.db.sequence_state import SequenceState, transition
from infra.events import WEATHER_SAFE, WEATHER_UNSAFE, emit
from infra.journal import night_label
from tasks.night.report import night_report
from tasks.night.report_render import render_markdown, write_report_files
from tasks.requests.ingest import ingest_request_bytes
from tasks.scheduling.night_times import night_for
from tests.support.night_data import add_schedule
from tests.support.requests import request_xml, sequence_xml

S = SequenceState


def _sequences(engine, count: int) -> list[int]:
    xml = request_xml([sequence_xml(f"s{i}") for i in range(count)], program="GRB")
    return list(ingest_request_bytes(xml.encode(), "report.xml", engine=engine).sequence_ids)


def _move(engine, sequence_id: int, states: list[tuple[SequenceState, str]], at: datetime):
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        for offset, (state, reason) in enumerate(states):
            transition(session, sequence, state, reason, at + timedelta(minutes=10 * offset))


def _image(session, sequence_id: int, plan_id: int, index: int, at: datetime) -> None:
    session.add(
        Image(
            id=image_id(sequence_id, plan_id, index),
            sequence_id=sequence_id,
            plan_id=plan_id,
            index=index,
            instrument="Visible camera",
            filter="r",
            image_type="light",
            exposure_s=10.0,
            path=f"/frames/{sequence_id}-{index}.fits",
            sha256="0" * 64,
            size_bytes=1,
            acquired_at=at,
            wall_acquired_at=datetime.now(UTC),
        )
    )


def test_the_report_counts_what_happened_and_says_why(engine, tmp_path):
    config = get_config()
    label = night_label(datetime(2026, 11, 25, 2, 0, tzinfo=UTC), config.site.longitude_deg)
    night = night_for(label, config)
    t0 = night.start + timedelta(minutes=5)
    done, cut, left, never, other_night, pushed = _sequences(engine, 6)
    add_schedule(engine, label, night, [done, cut, left, pushed], {}, t0)
    # The last schedule (after the rain): what is left, and why the rest is not.
    add_schedule(
        engine,
        label,
        night,
        [left],
        {never: "below the horizon all night", pushed: "its window ended during the rain"},
        t0 + timedelta(hours=2),
    )
    add_schedule(engine, "2026-12-31", night, [other_night], {}, t0)
    _move(engine, done, [(S.PLANNED, "p"), (S.EXECUTING, "go"), (S.EXECUTED, "done")], t0)
    _move(
        engine,
        cut,
        [(S.PLANNED, "p"), (S.EXECUTING, "go"), (S.INTERRUPTED, "preempted: alert")],
        t0 + timedelta(hours=1),
    )
    _move(engine, left, [(S.PLANNED, "p")], t0)
    with session_scope(engine) as session:
        plan_of = {sid: session.get(Sequence, sid).albums[0].plans[0].id for sid in (done, cut)}
        for index in (1, 2, 3):
            _image(session, done, plan_of[done], index, t0 + timedelta(minutes=12))
        _image(session, cut, plan_of[cut], 1, t0 + timedelta(hours=1, minutes=12))
        # A frame of the previous day is not tonight's.
        _image(session, cut, plan_of[cut], 2, night.noon - timedelta(hours=1))

    class At:
        speed = float("inf")

        def __init__(self, at):
            self.at = at

        def now(self):
            return self.at

    rain = t0 + timedelta(minutes=30)
    emit(WEATHER_UNSAFE, "site", {"reason": "rain"}, source="monitor", clock=At(rain))
    emit(
        WEATHER_SAFE,
        "site",
        {"reason": "dry"},
        source="monitor",
        clock=At(rain + timedelta(minutes=40)),
    )

    with session_scope(engine) as session:
        report = night_report(session, label, config, extra={"wall_seconds": 12.5})
    s = report.summary
    assert s["night"] == label
    assert (s["sequences_planned"], s["sequences_plannable"]) == (4, 3)
    assert s["sequences_dropped"] == 1
    assert (s["sequences_executed"], s["sequences_interrupted"]) == (1, 1)
    assert (s["sequences_not_executed"], s["sequences_unplannable"]) == (1, 1)
    assert (s["images"], s["weather_closures"], s["wall_seconds"]) == (4, 1, 12.5)
    why = {line.sequence_id: line.reason for line in report.sequences}
    assert why[cut] == "preempted: alert"
    assert [u.reason for u in report.unplannable] == ["below the horizon all night"]
    assert [(d.sequence_id, d.reason) for d in report.dropped] == [
        (pushed, "its window ended during the rain")
    ]
    assert [w.safe for w in report.weather] == [False, True]
    # done ran 10 min, cut 10 min before its interruption: a third of an hour for GRB.
    assert report.hours_per_program == {"GRB": round(20 / 60, 4)}
    assert report.images_per_program == {"GRB": 4}
    # time per program against its share (#23): GRB holds every quota and all of tonight's time
    grb = report.shares["GRB"]
    assert (grb["share_pct"], grb["used_pct"], grb["overdrawn"]) == (100.0, 100.0, False)

    markdown = render_markdown(report)
    assert f"# Night {label}" in markdown and "preempted: alert" in markdown
    assert "below the horizon all night" in markdown and "UNSAFE" in markdown
    assert "its window ended during the rain" in markdown
    assert "| GRB | 0.333 | 4 | 100.0 % | 100.0 % |" in markdown
    md, js = write_report_files(report, tmp_path / "reports")
    assert md.read_text() == markdown
    assert json.loads(js.read_text())["summary"]["sequences_executed"] == 1
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        f"{label}.json",
        f"{label}.md",
    ]


def test_a_span_cut_short_counts_only_what_was_due_in_it(engine):
    config = get_config()
    label = "2026-11-24"
    night = night_for(label, config)
    early, late = _sequences(engine, 2)
    t0 = night.start + timedelta(minutes=5)
    add_schedule(engine, label, night, [early], {}, t0)
    later = {early: t0 + timedelta(minutes=30), late: t0 + timedelta(hours=3)}
    add_schedule(engine, label, night, later, {}, t0 + timedelta(minutes=10))
    # A schedule made after the span (a request came in while the night was closing) is not
    # the span's: it planned `early` again, after the span's end.
    two_hours_on = t0 + timedelta(hours=2)
    add_schedule(engine, label, night, {early: two_hours_on}, {}, two_hours_on)
    with session_scope(engine) as session:
        s = night_report(session, label, config, until=t0 + timedelta(hours=1)).summary
        full = night_report(session, label, config).summary
    assert (s["sequences_plannable"], s["sequences_dropped"]) == (1, 1)
    assert (full["sequences_plannable"], full["sequences_dropped"]) == (1, 1)


def test_a_night_with_nothing_reports_zeros(engine):
    config = get_config()
    with session_scope(engine) as session:
        s = night_report(session, "2026-11-24", config).summary
    assert s["sequences_plannable"] == s["images"] == s["weather_closures"] == 0


def test_frames_per_camera_span_and_run_figures_come_with_the_report(engine, tmp_path):
    from tasks.night.report import (
        frames_pending,
        latest_night_with_data,
        night_has_data,
        record_night_run,
    )
    from tests.support.night_data import INFRARED, VISIBLE, build_night

    config = get_config()
    built = build_night(engine, config, tmp_path / "frames")
    with session_scope(engine) as session:
        whole = night_report(session, built.label, config).summary
        record_night_run(session, built.label, built.span_end, span_end=built.span_end)
        record_night_run(session, built.label, built.span_end, figures={"wall_seconds": 61.5})
    with session_scope(engine) as session:
        report = night_report(session, built.label, config)
        assert frames_pending(session, built.label, config) == 1
        assert latest_night_with_data(session, config) == built.label
        assert night_has_data(session, built.label, config)
        assert not night_has_data(session, "2026-11-20", config)
    s = report.summary
    # The journaled span: `late`, planned after it, is dropped (the whole night counts it).
    assert (whole["sequences_plannable"], whole["sequences_dropped"]) == (3, 0)
    assert (s["sequences_plannable"], s["sequences_dropped"]) == (2, 1)
    assert s["span_end"] == built.span_end.isoformat() and s["wall_seconds"] == 61.5
    visible, infrared = s["cameras"][VISIBLE], s["cameras"][INFRARED]
    assert (visible["frames_taken"], visible["frames_analysed"]) == (5, 3)
    assert (visible["frames_failed"], visible["frames_pending"]) == (1, 1)
    assert visible["failure_reasons"][0]["reason"] == (
        "astrometry: no match between N detections and N catalog stars"
    )
    # Three frames scored against their truth: one false candidate (the other is the afterglow).
    assert (visible["frames_scored"], visible["false_candidates"]) == (3, 1)
    assert visible["false_candidates_per_frame"] == round(1 / 3, 4)
    assert (infrared["frames_taken"], infrared["frames_analysed"], infrared["frames_failed"]) == (
        3,
        2,
        1,
    )
    assert infrared["failure_reasons"] == [
        {
            "reason": "N% of the pixels are saturated or bad",
            "count": 1,
            "example": "100% of the pixels are saturated or bad",
        }
    ]
    assert infrared["false_candidates_per_frame"] is None  # no truth: not scored
    assert s["frames"]["frames_taken"] == s["images"] == 8
    markdown = render_markdown(report)
    assert "## Frames per camera" in markdown and "N% of the pixels are saturated" in markdown
    assert f"| {INFRARED} | 3 | 2 | 1 | 0 | 66.7 % | 0 | - |" in markdown
    assert "wall seconds: 61.5" in markdown
