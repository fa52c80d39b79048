"""The night report: what was planned, executed, interrupted and why, the weather, the images,
the frames each camera took and how many the near-real-time analysis could use, how the
orchestration kept up, and the time used per program, from the database alone (so any past night
can be reported again).

:func:`night_report` is the one function that computes a night's figures: the summary
``pyros night --simulate`` prints, the report files, the Prefect artifact and ``pyros night
report`` all come from it. :func:`night_summary` gives the figures alone;
:mod:`tasks.night.report_render` renders the page the operator reads and the JSON. What only the
simulation knows (the span of a night cut short, how its flow runs ended) is journaled by
:func:`record_night_run` and read back by :func:`night_report`, so a later report shows it too.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devices.controllers.camera import ImageType
from infra.config import SiteConfig, get_config
from infra.db.models import (
    Image,
    JournalEntry,
    NrtAnalysis,
    Request,
    Schedule,
    ScheduledSequence,
    ScientificProgram,
    Sequence,
    SequenceTransition,
)
from infra.db.sequence_state import SequenceState
from infra.events import WEATHER_SAFE, WEATHER_UNSAFE
from infra.journal import KIND_EVENT, night_label, record
from tasks.night.alerts_report import AlertLine, alert_figures, night_alerts
from tasks.night.timing import timing_figures
from tasks.night.timing_rows import dome_reopenings, executions
from tasks.nrt.analysis_rows import AnalysisStatus
from tasks.nrt.night_frames import frame_figures
from tasks.scheduling.load import program_uses
from tasks.scheduling.night_times import Night, night_for
from tasks.scheduling.shares import time_by_program

S = SequenceState

#: Journal kind of what a run of the night records about itself (span, run figures).
KIND_NIGHT_RUN = "night-run"


@dataclass(frozen=True)
class SequenceLine:
    """One sequence of the night, as the report shows it."""

    sequence_id: int
    name: str
    program: str
    state: str
    reason: str
    images: int


@dataclass(frozen=True)
class WeatherChange:
    """A change of the monitor's verdict (simulated instant)."""

    at: datetime
    safe: bool
    reason: str


@dataclass
class NightReport:
    """The figures and the detail of one night."""

    night: str
    summary: dict[str, Any]
    sequences: list[SequenceLine] = field(default_factory=list)
    unplannable: list[SequenceLine] = field(default_factory=list)
    dropped: list[SequenceLine] = field(default_factory=list)
    weather: list[WeatherChange] = field(default_factory=list)
    hours_per_program: dict[str, float] = field(default_factory=dict)
    images_per_program: dict[str, int] = field(default_factory=dict)
    #: Per program: its share of the quotas, of tonight's hours, its use over the period (#23).
    shares: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The alerts received, what their follow-ups took and found (#18).
    alerts: list[AlertLine] = field(default_factory=list)


def night_span(night: Night) -> tuple[datetime, datetime]:
    """The instants a night owns: from its noon to the next noon."""
    return night.noon, night.noon + timedelta(days=1)


@dataclass
class _Considered:
    """A sequence as the night's schedules saw it."""

    ever_planned: bool = False
    latest_reason: str = ""  # the reason of its entry in the latest schedule that has it


def _sequences_considered(session: Session, label: str, until: datetime) -> dict[int, _Considered]:
    """Every sequence of a schedule of the night made before ``until``, in one pass over the
    night's entries."""
    considered: dict[int, _Considered] = {}
    for sequence_id, planned, reason in session.execute(
        select(ScheduledSequence.sequence_id, ScheduledSequence.planned, ScheduledSequence.reason)
        .join(Schedule, Schedule.id == ScheduledSequence.schedule_id)
        .where(Schedule.night == label, Schedule.created_at < until)
        .order_by(Schedule.id)
    ):
        seen = considered.setdefault(sequence_id, _Considered())
        seen.ever_planned = seen.ever_planned or bool(planned)
        seen.latest_reason = reason or ""
    return considered


def _executed_in(session: Session, start: datetime, end: datetime) -> set[int]:
    """Sequences that reached ``executing`` inside the span (alerts are not always scheduled)."""
    return set(
        session.scalars(
            select(SequenceTransition.sequence_id).where(
                SequenceTransition.to_state == S.EXECUTING,
                SequenceTransition.at >= start,
                SequenceTransition.at < end,
            )
        )
    )


def _final_schedule_plan(
    session: Session, label: str, until: datetime
) -> tuple[set[int], dict[int, str]]:
    """The night's last schedule made before ``until``: sequences it planned to start before
    ``until``, and the reason of every other entry (unplanned, or planned later). A schedule
    made after the span (a request arriving once a shortened night is over) is not the span's."""
    last = session.scalar(
        select(Schedule.id)
        .where(Schedule.night == label, Schedule.created_at < until)
        .order_by(Schedule.id.desc())
        .limit(1)
    )
    if last is None:
        return set(), {}
    due, reasons = set(), {}
    for entry in session.scalars(
        select(ScheduledSequence).where(ScheduledSequence.schedule_id == last)
    ):
        if entry.planned and entry.planned_start is not None and entry.planned_start < until:
            due.add(entry.sequence_id)
        elif entry.planned:
            reasons[entry.sequence_id] = (
                f"planned at {entry.planned_start:%H:%M} UTC, after the span"
            )
        else:
            reasons[entry.sequence_id] = entry.reason
    return due, reasons


def _time_on_sky(session: Session, start: datetime, end: datetime) -> dict[int, float]:
    """Hours each sequence spent ``executing`` inside the span, from its transitions."""
    rows = session.execute(
        select(SequenceTransition.sequence_id, SequenceTransition.to_state, SequenceTransition.at)
        .where(SequenceTransition.at >= start, SequenceTransition.at < end)
        .order_by(SequenceTransition.sequence_id, SequenceTransition.id)
    ).all()
    hours: dict[int, float] = defaultdict(float)
    began: dict[int, datetime] = {}
    for sequence_id, state, at in rows:
        if state == S.EXECUTING:
            began[sequence_id] = at
        elif sequence_id in began:
            hours[sequence_id] += (at - began.pop(sequence_id)).total_seconds() / 3600.0
    return hours


def weather_changes(
    session: Session, label: str, start: datetime, end: datetime
) -> list[WeatherChange]:
    """The monitor's verdict changes of night ``label`` within ``[start, end)``, in order."""
    rows = session.execute(
        select(JournalEntry.sim_time, JournalEntry.payload)
        .where(
            JournalEntry.kind == KIND_EVENT,
            JournalEntry.night == label,
            JournalEntry.sim_time >= start,
            JournalEntry.sim_time < end,
        )
        .order_by(JournalEntry.sim_time, JournalEntry.id)
    ).all()
    changes = []
    for at, payload in rows:
        # An event's journal entry is an object, stamped with its simulated instant.
        if not isinstance(payload, dict) or not isinstance(at, datetime):
            continue
        name = payload.get("event")
        if name in (WEATHER_SAFE, WEATHER_UNSAFE):
            reason = str(payload.get("payload", {}).get("reason", ""))
            changes.append(WeatherChange(at, name == WEATHER_SAFE, reason))
    return changes


@dataclass(frozen=True)
class _Fates:
    """Which sequences of the night were plannable, dropped or unplannable (see
    :func:`night_report`), with the reasons the schedules gave."""

    plannable: set[int]
    ever_planned: set[int]
    dropped: set[int]
    unplannable: set[int]
    considered: dict[int, _Considered]
    last_reasons: dict[int, str]

    @property
    def wanted(self) -> set[int]:
        """Every sequence the report lists."""
        return self.plannable | self.unplannable | self.dropped


def _fates(session: Session, label: str, start: datetime, until: datetime) -> _Fates:
    considered = _sequences_considered(session, label, until)
    executing = _executed_in(session, start, until)
    due, last_reasons = _final_schedule_plan(session, label, until)
    plannable = executing | due
    ever_planned = {sid for sid, seen in considered.items() if seen.ever_planned}
    return _Fates(
        plannable=plannable,
        ever_planned=ever_planned,
        dropped=ever_planned - plannable,
        unplannable=set(considered) - ever_planned - executing,
        considered=considered,
        last_reasons=last_reasons,
    )


def _sequences_with_program(session: Session, ids: set[int]) -> list[tuple[Sequence, str | None]]:
    """The sequences ``ids`` by id, each with its program's name."""
    if not ids:
        return []
    rows = session.execute(
        select(Sequence, ScientificProgram.name)
        .join(Request, Request.id == Sequence.request_id)
        .outerjoin(ScientificProgram, ScientificProgram.id == Request.program_id)
        .where(Sequence.id.in_(ids))
        .order_by(Sequence.id)
    ).all()
    return [(sequence, program) for sequence, program in rows]


def _image_counts(session: Session, start: datetime, end: datetime) -> dict[int | None, int]:
    """Images taken inside the span, per sequence."""
    return {
        sequence_id: count
        for sequence_id, count in session.execute(
            select(Image.sequence_id, func.count())
            .where(Image.acquired_at >= start, Image.acquired_at < end)
            .group_by(Image.sequence_id)
        )
    }


def _add_lines(
    report: NightReport,
    rows: list[tuple[Sequence, str | None]],
    fates: _Fates,
    image_counts: dict[int | None, int],
    hours: dict[int, float],
) -> Counter[str]:
    """Put each sequence in its list, add up the programs' time and images; returns how many
    plannable sequences ended in each state."""
    states: Counter[str] = Counter()
    for sequence, program_name in rows:
        program = program_name or "(no program)"
        line = SequenceLine(
            sequence.id,
            sequence.name,
            program,
            sequence.state,
            sequence.state_reason,
            image_counts.get(sequence.id, 0),
        )
        if sequence.id in fates.plannable:
            report.sequences.append(line)
            states[sequence.state] += 1
        elif sequence.id in fates.dropped:
            reason = fates.last_reasons.get(sequence.id) or sequence.state_reason
            report.dropped.append(replace(line, reason=reason))
        else:
            reason = fates.considered[sequence.id].latest_reason or sequence.state_reason
            report.unplannable.append(replace(line, reason=reason, images=0))
        report.hours_per_program[program] = report.hours_per_program.get(program, 0.0) + hours.get(
            sequence.id, 0.0
        )
        report.images_per_program[program] = report.images_per_program.get(program, 0) + line.images
    report.hours_per_program = {k: round(v, 4) for k, v in report.hours_per_program.items()}
    return states


def record_night_run(
    session: Session,
    label: str,
    at: datetime,
    *,
    span_end: datetime | None = None,
    figures: dict[str, Any] | None = None,
) -> None:
    """Journal what a run of night ``label`` knows that the database does not: the end of the span
    reported (a night cut short) and figures of the run (flow run states, wall and simulated
    seconds). :func:`night_report` reads the latest of each back.

    Parameters
    ----------
    session : Session
        Database session (the entry commits with it).
    label : str
        Night label.
    at : datetime
        Simulated instant of the entry.
    span_end : datetime, optional
        End of the span reported.
    figures : dict, optional
        JSON-able figures added to the summary as given.
    """
    payload: dict[str, Any] = {"night": label}
    if span_end is not None:
        payload["span_end"] = span_end.isoformat()
    if figures:
        payload["figures"] = dict(figures)
    record(KIND_NIGHT_RUN, "pyros night", payload, sim_time=at, into=session)


def _recorded_run(session: Session, label: str) -> tuple[datetime | None, dict[str, Any]]:
    """The latest span end and the run figures journaled for night ``label``."""
    span_end: datetime | None = None
    figures: dict[str, Any] = {}
    payload: Any
    for payload in session.scalars(
        select(JournalEntry.payload)
        .where(JournalEntry.kind == KIND_NIGHT_RUN)
        .order_by(JournalEntry.id)
    ):
        if not isinstance(payload, dict) or payload.get("night") != label:
            continue
        if payload.get("span_end"):
            span_end = datetime.fromisoformat(str(payload["span_end"]))
        figures.update(payload.get("figures") or {})
    return span_end, figures


def recorded_span_end(session: Session, label: str) -> datetime | None:
    """The end of the span journaled for night ``label`` (a simulated night cut short), if any."""
    return _recorded_run(session, label)[0]


def night_has_data(session: Session, label: str, config: SiteConfig) -> bool:
    """Whether night ``label`` has anything to report: a schedule, an image, a sequence that
    started executing or a weather change."""
    start, end = night_span(night_for(label, config))
    if session.scalar(select(Schedule.id).where(Schedule.night == label).limit(1)) is not None:
        return True
    if session.scalar(
        select(Image.id).where(Image.acquired_at >= start, Image.acquired_at < end).limit(1)
    ):
        return True
    return bool(_executed_in(session, start, end) or weather_changes(session, label, start, end))


def latest_night_with_data(session: Session, config: SiteConfig) -> str | None:
    """The latest night with a schedule, an image or a sequence executing (None: no night)."""
    longitude = config.site.longitude_deg
    labels = [session.scalar(select(func.max(Schedule.night)))]
    for instant in (
        session.scalar(select(func.max(Image.acquired_at))),
        session.scalar(
            select(func.max(SequenceTransition.at)).where(
                SequenceTransition.to_state == S.EXECUTING
            )
        ),
    ):
        if instant is not None:
            labels.append(night_label(instant, longitude))
    found = [label for label in labels if label]
    return max(found) if found else None


def frames_pending(session: Session, label: str, config: SiteConfig | None = None) -> int:
    """Science frames of night ``label`` whose analysis has not ended (done or failed) yet."""
    config = config or get_config()
    start, end = night_span(night_for(label, config))
    ended = select(NrtAnalysis.image_id).where(
        NrtAnalysis.status.in_([AnalysisStatus.DONE.value, AnalysisStatus.FAILED.value])
    )
    return (
        session.scalar(
            select(func.count())
            .select_from(Image)
            .where(
                Image.image_type == ImageType.LIGHT.value,
                Image.acquired_at >= start,
                Image.acquired_at < end,
                Image.id.not_in(ended),
            )
        )
        or 0
    )


def _frames(session: Session, label: str, config: SiteConfig) -> dict[str, Any]:
    """The night's science frames per camera and in all (see :func:`frame_figures`)."""
    figures = frame_figures(session, label, config.site.longitude_deg)
    return {"cameras": figures["cameras"], "frames": figures["total"]}


def _orchestration(
    session: Session,
    config: SiteConfig,
    span_start: datetime,
    dark_start: datetime | None,
    until: datetime,
) -> dict[str, Any]:
    """How the orchestration kept up (see :func:`tasks.night.timing.timing_figures`)."""
    dark_s = (until - dark_start).total_seconds() if dark_start else 0.0
    return timing_figures(
        executions(session, span_start, until),
        dome_reopenings(session, span_start, until),
        early_start_s=config.night.early_start_s,
        dark_s=max(dark_s, 0.0),
    )


def night_report(
    session: Session,
    label: str,
    config: SiteConfig,
    *,
    extra: dict[str, Any] | None = None,
    until: datetime | None = None,
) -> NightReport:
    """Everything the report says about night ``label``: the one computation of its figures.

    Parameters
    ----------
    session : Session
        Database session.
    label : str
        Night label (local date of the evening).
    config : SiteConfig
        The site (the night's instants).
    extra : dict, optional
        Figures known only to the caller, added to the summary as given (after those journaled
        by :func:`record_night_run`).
    until : datetime, optional
        End of the span reported (a night cut short); default the span journaled by
        :func:`record_night_run`, else the night's end.

    Notes
    -----
    *Plannable* sequences are those that started executing in the span, and those the night's
    last schedule planned to start in it: what the night could still do given what happened.
    Sequences planned at some point but not plannable in the end (the weather, an alert or a
    re-plan pushed them out) are *dropped*, each with its reason; *unplannable* ones were
    considered but never planned (the planner's reason). Images are counted from the image rows
    (each row names its sequence); ``cameras`` gives each camera's science frames: taken,
    analysed, failed with the reasons, and false candidates per frame where the truth is known.
    """
    night = night_for(label, config)
    start, end = night_span(night)
    recorded_end, recorded = _recorded_run(session, label)
    until = min(until or recorded_end or end, end)
    fates = _fates(session, label, start, until)
    image_counts = _image_counts(session, start, end)
    report = NightReport(label, {})
    states = _add_lines(
        report,
        _sequences_with_program(session, fates.wanted),
        fates,
        image_counts,
        _time_on_sky(session, start, end),
    )
    report.weather = weather_changes(session, label, start, end)
    report.shares = _program_shares(session, report.hours_per_program)
    report.alerts = night_alerts(session, start, end)
    executed, interrupted = states[S.EXECUTED], states[S.INTERRUPTED]
    report.summary = {
        "night": label,
        "sequences_planned": len(fates.ever_planned),
        "sequences_plannable": len(fates.plannable),
        "sequences_executed": executed,
        "sequences_interrupted": interrupted,
        "sequences_not_executed": len(fates.plannable) - executed - interrupted,
        "sequences_unplannable": len(fates.unplannable),
        "sequences_dropped": len(fates.dropped),
        "images": sum(image_counts.values()),
        "weather_closures": sum(1 for change in report.weather if not change.safe),
        **alert_figures(report.alerts),
        **_frames(session, label, config),
        "orchestration": _orchestration(session, config, start, night.start, until),
        "night_start": night.start.isoformat() if night.start else None,
        "night_end": night.end.isoformat() if night.end else None,
        "span_end": until.isoformat(),
        **recorded,
        **(extra or {}),
    }
    return report


def _program_shares(session: Session, hours: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Each active program's share of the quotas against tonight's hours and its use; a
    program over its quota (the GRB program may overdraw for alerts) is marked ``overdrawn``."""
    uses = program_uses(session)
    table: dict[str, dict[str, Any]] = dict(time_by_program(hours, uses))
    for name, row in table.items():
        use = uses[name]
        row.update(quota_hours=use.quota_hours, used_hours=round(use.used_hours, 4))
        row["overdrawn"] = use.used_hours > use.quota_hours
    return table


def night_summary(session: Session, label: str, config: SiteConfig, **extra: Any) -> dict[str, Any]:
    """The figures of night ``label`` (see :func:`night_report`)."""
    return night_report(session, label, config, extra=extra).summary
