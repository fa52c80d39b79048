"""The request deployments (issue #23): cancel and images on a real Prefect server (the
session's test harness), with the request artifact they publish."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from infra.db import session_scope
from infra.db.models import (
    Image,
    JournalEntry,
    NrtAnalysis,
    Schedule,
    ScheduledSequence,
    Sequence,
    SequenceTransition,
)
from infra.db.sequence_state import SequenceState, transition
from tests.support.requests import request_xml, sequence_xml

pytestmark = [pytest.mark.prefect, pytest.mark.xdist_group("prefect")]

S = SequenceState


def _submit(names: list[str], user: str = "pyros") -> dict:
    from flows.operator import submit_request

    sequences = [sequence_xml(n, jd1="0", jd2="30000") for n in names]
    return submit_request(xml=request_xml(sequences), user=user)


def _artifact(request_id: int) -> str:
    from prefect.artifacts import Artifact

    artifact = Artifact.get(f"request-{request_id}")
    assert artifact is not None, f"no artifact request-{request_id}"
    return str(artifact.data)


def _planned_in_current_schedule(engine) -> list[int]:
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(ScheduledSequence.sequence_id)
                .join(Schedule, Schedule.id == ScheduledSequence.schedule_id)
                .where(Schedule.is_current.is_(True), ScheduledSequence.planned.is_(True))
                .order_by(ScheduledSequence.sequence_id)
            )
        )


def _cancel_events(engine) -> list[dict]:
    with session_scope(engine) as session:
        rows = session.scalars(select(JournalEntry).where(JournalEntry.kind == "event"))
        return [r.payload for r in rows if r.payload["event"] == "pyros.request.cancelled"]


def test_cancel_leaves_the_schedule_emits_the_event_and_updates_the_artifact(
    engine, sim_clock, prefect_harness
):
    from flows.operator import cancel_request_flow, replan_now

    kept = _submit(["kept"])
    submitted = _submit(["a", "b"])
    request_id = submitted["request_id"]
    assert "waiting" in _artifact(request_id)  # published on submit
    replan_now(reason="test")
    ours = sorted(submitted["sequence_ids"])
    assert _planned_in_current_schedule(engine) == sorted(kept["sequence_ids"] + ours)

    result = cancel_request_flow(request_id=request_id, reason="clouds forecast", user="pyros")
    assert sorted(result["cancelled"]) == ours and result["executing"] == []
    assert result["artifact"] == f"request-{request_id}"
    # tonight re-planned: the cancelled sequences left the current schedule, the other stays
    assert _planned_in_current_schedule(engine) == kept["sequence_ids"]
    with session_scope(engine) as session:
        current = session.scalar(select(Schedule).where(Schedule.is_current.is_(True)))
        assert current.id == result["schedule_id"]
        assert current.reason == f"request {request_id} cancelled"
        states = [session.get(Sequence, i).state for i in ours]
        assert states == ["cancelled", "cancelled"]
    (event,) = _cancel_events(engine)
    assert event["resource"]["prefect.resource.id"] == f"pyros.request.{request_id}"
    assert event["payload"]["user"] == "pyros"
    assert event["payload"]["reason"] == "cancelled by pyros: clouds forecast"
    assert sorted(event["payload"]["cancelled"]) == ours
    markdown = _artifact(request_id)
    assert f"# Request {request_id} 'test request': cancelled" in markdown
    assert "cancelled by pyros: clouds forecast" in markdown
    for sequence_id in ours:
        assert f"| {sequence_id} | " in markdown and "| cancelled |" in markdown


def test_a_refused_cancel_fails_the_run_with_the_reason_and_changes_nothing(
    engine, sim_clock, prefect_harness
):
    from flows.operator import cancel_request_flow
    from tasks.requests.people import add_user

    with session_scope(engine) as session:
        details = {"programs": ["GRB"], "quota_hours": 50.0}
        for name in ("olga", "ivo"):
            add_user(session, "pyros", name, "observer", details=details)
    request_id = _submit(["a"], user="olga")["request_id"]
    with session_scope(engine) as session:
        before = session.scalar(select(func.count()).select_from(SequenceTransition))
    for parameters, message in [
        ({"user": "ivo"}, "'ivo' is observer and may cancel only their own requests"),
        ({"user": "ghost"}, "unknown user 'ghost'"),
        ({"request_id": 999}, "request 999: no such request"),
    ]:
        state = cancel_request_flow(**{"request_id": request_id, **parameters}, return_state=True)
        assert state.is_failed(), parameters
        with pytest.raises(Exception, match=message):
            state.result()
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(SequenceTransition)) == before
    assert _cancel_events(engine) == []
    # the owner may; a second cancel is refused
    assert cancel_request_flow(request_id=request_id, user="olga")["cancelled"]
    state = cancel_request_flow(request_id=request_id, user="olga", return_state=True)
    with pytest.raises(Exception, match=f"request {request_id} was already cancelled by olga"):
        state.result()


def _images(engine, sim_clock, sequence_id: int, tmp_path) -> list[str]:
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        for state in (S.PLANNED, S.EXECUTING, S.EXECUTED):
            transition(session, sequence, state, "test", sim_clock.now())
        plan = sequence.albums[0].plans[0]
        ids = [f"S{sequence_id:07d}-P{plan.id:07d}-I{i:04d}" for i in (1, 2)]
        for index, identifier in enumerate(ids, start=1):
            session.add(
                Image(
                    id=identifier,
                    sequence_id=sequence_id,
                    plan_id=plan.id,
                    index=index,
                    instrument="Visible camera",
                    filter="r",
                    exposure_s=10.0,
                    path=str(tmp_path / f"{identifier}.fits"),
                    sha256="ab" * 32,
                    size_bytes=2880,
                    acquired_at=sim_clock.now() + timedelta(seconds=30 * index),
                    wall_acquired_at=datetime.now(UTC),
                )
            )
        session.flush()
        session.add(NrtAnalysis(image_id=ids[0], status="done", fwhm_arcsec=2.1, n_sources=40))
        session.add(NrtAnalysis(image_id=ids[1], status="failed", reason="astrometry: no match"))
    return ids


def test_the_images_flow_lists_them_and_shows_them_in_the_artifact(
    engine, sim_clock, prefect_harness, tmp_path
):
    from flows.operator import request_images_flow

    submitted = _submit(["a"])
    request_id, (sequence_id,) = submitted["request_id"], submitted["sequence_ids"]
    assert request_images_flow(request_id=request_id) == []
    assert "0 image(s)." in _artifact(request_id)

    ids = _images(engine, sim_clock, sequence_id, tmp_path)
    listed = request_images_flow(request_id=request_id)
    assert [i["id"] for i in listed] == ids
    assert (listed[0]["filter"], listed[0]["exposure_s"]) == ("r", 10.0)
    assert listed[0]["nrt"]["fwhm_arcsec"] == 2.1 and isinstance(listed[0]["acquired_at"], str)
    markdown = _artifact(request_id)
    assert f"# Request {request_id} 'test request': done" in markdown
    assert "2 image(s)." in markdown
    assert f"| {ids[0]} | " in markdown and 'done FWHM 2.10", 40 sources |' in markdown
    assert "| failed: astrometry: no match |" in markdown
    assert f"{ids[1]}.fits" in markdown and "| r | 10 |" in markdown

    state = request_images_flow(request_id=999, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="request 999: no such request"):
        state.result()


def test_a_sequence_that_ran_updates_its_request_artifact(
    engine, sim_clock, prefect_harness, tmp_path
):
    """What ``execute-sequence`` calls when a sequence ends: the images that arrived show."""
    from prefect import flow

    from tasks.requests.prefect_tasks import publish_request_of_sequence

    @flow(name="sequence-ended-test")
    def sequence_ended(sequence_id: int) -> str | None:
        return publish_request_of_sequence(sequence_id)

    submitted = _submit(["a"])
    request_id, (sequence_id,) = submitted["request_id"], submitted["sequence_ids"]
    ids = _images(engine, sim_clock, sequence_id, tmp_path)
    assert sequence_ended(sequence_id) == f"request-{request_id}"
    assert f"| {ids[1]} | " in _artifact(request_id)
    assert sequence_ended(999999) is None  # no such sequence: nothing published, no failure
