"""A small synthetic night in the database: sequences planned, executed, interrupted and planned
after the span; frames of two cameras with their analyses (done with candidates, failed with
reasons, one pending) and the truth beside the simulated frames; a rain episode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from astropy.table import Table

from infra.config import SiteConfig
from infra.db import session_scope
from infra.db.models import (
    Image,
    NrtAnalysis,
    Schedule,
    ScheduledSequence,
    Sequence,
    image_id,
)
from infra.db.sequence_state import SequenceState, transition
from infra.events import WEATHER_SAFE, WEATHER_UNSAFE, emit
from tasks.requests.ingest import ingest_request_bytes
from tasks.scheduling.night_times import night_for
from tests.support.requests import request_xml, sequence_xml

S = SequenceState
VISIBLE, INFRARED = "Visible camera", "Infrared camera"
AFTERGLOW = (150.0, 20.0)  # where the truth has its one transient


@dataclass(frozen=True)
class SyntheticNight:
    """What was put in the database."""

    label: str
    span_end: datetime
    executed: int
    interrupted: int
    after_span: int


class _At:
    speed = float("inf")

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def add_schedule(engine, label, night, planned, unplanned: dict[int, str], at) -> None:
    """A schedule made at ``at``: ``planned`` ids (starting at ``at``, or at their own instants
    when a dict), ``unplanned`` ids with their reasons."""
    starts = planned if isinstance(planned, dict) else dict.fromkeys(planned, at)
    with session_scope(engine) as session:
        schedule = Schedule(
            night=label,
            created_at=at,
            wall_created_at=datetime.now(UTC),
            night_start=night.start,
            night_end=night.end,
        )
        session.add(schedule)
        session.flush()
        for position, (sequence_id, start) in enumerate(starts.items()):
            session.add(
                ScheduledSequence(
                    schedule_id=schedule.id,
                    sequence_id=sequence_id,
                    position=position,
                    planned=True,
                    planned_start=start,
                    planned_end=start + timedelta(minutes=5),
                )
            )
        for sequence_id, reason in unplanned.items():
            session.add(
                ScheduledSequence(
                    schedule_id=schedule.id, sequence_id=sequence_id, planned=False, reason=reason
                )
            )


def _frame(
    session, sequence: Sequence, index: int, instrument: str, at: datetime, frames: Path
) -> str:
    plan = next(p for a in sequence.albums for p in a.plans)
    identifier = image_id(sequence.id, plan.id, index + (1000 if instrument == INFRARED else 0))
    path = frames / f"{identifier}.fits"
    path.write_bytes(b"not a real frame")
    session.add(
        Image(
            id=identifier,
            sequence_id=sequence.id,
            plan_id=plan.id,
            index=index + (1000 if instrument == INFRARED else 0),
            instrument=instrument,
            filter="r",
            image_type="light",
            exposure_s=10.0,
            path=str(path),
            sha256="0" * 64,
            size_bytes=16,
            acquired_at=at,
            wall_acquired_at=datetime.now(UTC),
        )
    )
    return identifier


def _truth(frame: Path) -> None:
    Table(
        {
            "kind": ["star", "afterglow"],
            "ra": [149.9, AFTERGLOW[0]],
            "dec": [19.9, AFTERGLOW[1]],
        }
    ).write(frame.with_name(frame.stem + ".truth.ecsv"), format="ascii.ecsv")


def _analysis(session, identifier: str, status: str, at: datetime, **values) -> None:
    session.add(
        NrtAnalysis(image_id=identifier, status=status, started_at=at, finished_at=at, **values)
    )


def build_night(
    engine, config: SiteConfig, frames: Path, label: str = "2026-11-24"
) -> SyntheticNight:
    """Put a small night in the database (frames written under ``frames``)."""
    frames.mkdir(parents=True, exist_ok=True)
    night = night_for(label, config)
    t0 = night.start + timedelta(minutes=5)
    xml = request_xml([sequence_xml(f"s{i}") for i in range(3)], program="GRB")
    done, cut, late = ingest_request_bytes(xml.encode(), "n.xml", engine=engine).sequence_ids
    span_end = t0 + timedelta(hours=2)
    add_schedule(engine, label, night, {done: t0, cut: t0 + timedelta(minutes=30)}, {}, t0)
    # The last schedule plans `late` after the span's end (a night cut short).
    later = t0 + timedelta(hours=1)
    add_schedule(engine, label, night, {late: span_end + timedelta(hours=1)}, {}, later)
    with session_scope(engine) as session:
        steps = {
            done: [(S.PLANNED, "p"), (S.EXECUTING, "go"), (S.EXECUTED, "all plans done")],
            cut: [(S.PLANNED, "p"), (S.EXECUTING, "go"), (S.INTERRUPTED, "weather unsafe")],
            late: [(S.PLANNED, "p")],
        }
        for offset, (sequence_id, moves) in enumerate(steps.items()):
            sequence = session.get(Sequence, sequence_id)
            for step, (state, reason) in enumerate(moves):
                at = t0 + timedelta(minutes=30 * offset + 10 * step)
                transition(session, sequence, state, reason, at)
    with session_scope(engine) as session:
        first, second = session.get(Sequence, done), session.get(Sequence, cut)
        at = t0 + timedelta(minutes=12)
        visible = [_frame(session, first, i, VISIBLE, at, frames) for i in range(4)]
        infrared = [_frame(session, first, i, INFRARED, at, frames) for i in range(3)]
        pending = _frame(session, second, 0, VISIBLE, at + timedelta(minutes=30), frames)
        session.flush()
        for identifier in visible[:3]:
            _truth(frames / f"{identifier}.fits")
        # Two candidates on the first frame: the afterglow and a false one; none on the others.
        candidates = [
            {"ra": AFTERGLOW[0], "dec": AFTERGLOW[1], "mag": 17.0},
            {"ra": 150.1, "dec": 20.1, "mag": 18.0},
        ]
        _analysis(session, visible[0], "done", at, results={"candidates": candidates})
        for identifier in visible[1:3]:
            _analysis(session, identifier, "done", at, results={"candidates": []})
        _analysis(
            session,
            visible[3],
            "failed",
            at,
            reason="astrometry: no match between 120 detections and 381 catalog stars",
        )
        for identifier in infrared[:2]:
            _analysis(session, identifier, "done", at, results={"candidates": []})
        _analysis(
            session, infrared[2], "failed", at, reason="100% of the pixels are saturated or bad"
        )
        _analysis(session, pending, "running", at)
    rain = t0 + timedelta(minutes=50)
    emit(WEATHER_UNSAFE, "site", {"reason": "rain"}, source="monitor", clock=_At(rain))
    emit(
        WEATHER_SAFE,
        "site",
        {"reason": "dry"},
        source="monitor",
        clock=_At(rain + timedelta(minutes=40)),
    )
    return SyntheticNight(label, span_end, done, cut, late)
