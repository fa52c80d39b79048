"""Load what the planner needs from the database: candidates with their planned durations, and
the executing sequence.

Durations (DESIGN §5): the larger of the declared duration and the computed one (albums in
parallel, exposures + readouts + filter moves, plus the worst-case slew); a sequence with progress
(interrupted, resumed) needs only what is left, and its declared duration is then ignored.
"""

from __future__ import annotations

from collections import abc, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.orm import Session

from infra.config import SiteConfig
from infra.db.models import Album, Plan, Request, ScientificProgram, Sequence
from infra.db.sequence_state import SequenceState
from tasks.durations import (
    CameraTiming,
    remaining_plans,
    sequence_duration_s,
    worst_case_slew_s,
)
from tasks.night.device_health import waits_for
from tasks.scheduling import reasons as why
from tasks.scheduling.problem import Candidate, Executing
from tasks.scheduling.shares import ProgramUse

S = SequenceState
#: States the planner plans (DESIGN §4: unplannable and interrupted come back when re-planned).
PLANNABLE_STATES = (S.TO_BE_PLANNED, S.PLANNED, S.UNPLANNABLE, S.INTERRUPTED)


@dataclass
class Loaded:
    """What the planner needs from the database."""

    candidates: list[Candidate] = field(default_factory=list)
    executing: list[Executing] = field(default_factory=list)
    #: Every active program's quota and use (time allocation, #23).
    uses: dict[str, ProgramUse] = field(default_factory=dict)


def _plan_rows(
    session: Session, states: tuple[str, ...], ids: list[int] | None = None
) -> abc.Sequence[Row[int, int, str, str, float, int, int]]:
    """One row per plan: sequence, album position, instrument, filter, exposure, count, done."""
    query = (
        select(
            Album.sequence_id,
            Album.position,
            Album.instrument,
            Plan.filter,
            Plan.exposure_s,
            Plan.nb_images,
            Plan.images_done,
        )
        .join(Plan, Plan.album_id == Album.id)
        .join(Sequence, Sequence.id == Album.sequence_id)
        .where(Sequence.state.in_(states))
        .order_by(Album.sequence_id, Album.position, Plan.position)
    )
    if ids is not None:
        query = query.where(Sequence.id.in_(ids))
    return session.execute(query).all()


def planned_durations(
    session: Session,
    config: SiteConfig,
    states: tuple[str, ...],
    ids: list[int] | None = None,
    *,
    from_scratch: bool = False,
    lost: Mapping[str, str] | None = None,
) -> dict[int, tuple[float, bool, str]]:
    """Per sequence: (remaining computed duration with the slew, whether it has progress, the
    refusal when an album names an instrument the site no longer has, or when an album with
    images left needs a ``lost`` instrument: instrument -> its loss, #24). ``from_scratch``: the
    whole sequence, as if nothing had been taken (a plan made in hindsight)."""
    cameras = {i.name: CameraTiming(i.readout_s, i.filter_move_s) for i in config.instruments}
    albums: dict[int, dict[int, tuple[str, list[tuple[str, float, int, int]]]]] = defaultdict(dict)
    progress: dict[int, bool] = defaultdict(bool)
    for sid, position, instrument, filt, exposure, count, done in _plan_rows(session, states, ids):
        done = 0 if from_scratch else done
        albums[sid].setdefault(position, (instrument, []))[1].append((filt, exposure, count, done))
        progress[sid] = progress[sid] or done > 0
    slew = worst_case_slew_s(config.mount.slew_rate_deg_s, config.mount.settle_s)
    result = {}
    for sid, by_position in albums.items():
        unknown = sorted({name for name, _ in by_position.values() if name not in cameras})
        if unknown:
            result[sid] = (
                0.0,
                False,
                why.make(
                    why.UNKNOWN_INSTRUMENT, f"the site has no instrument {', '.join(unknown)}"
                ),
            )
            continue
        timed = [(name, remaining_plans(plans)) for name, plans in by_position.values()]
        waiting = waits_for((name for name, plans in timed if plans), lost or {})
        if waiting:
            result[sid] = (0.0, progress[sid], why.make(why.DEVICE_LOST, waiting))
            continue
        result[sid] = (sequence_duration_s(timed, cameras, slew_s=slew), progress[sid], "")
    return result


def program_uses(session: Session) -> dict[str, ProgramUse]:
    """Every active program's quota and hours used (the planner's time allocation)."""
    rows = session.execute(
        select(
            ScientificProgram.name, ScientificProgram.quota_hours, ScientificProgram.used_hours
        ).where(ScientificProgram.is_active.is_(True))
    ).all()
    return {name: ProgramUse(float(quota), float(used)) for name, quota, used in rows}


def candidate_of(
    sequence: Sequence, timing: tuple[float, bool, str] | None, program: str = ""
) -> Candidate:
    """The planner's view of ``sequence`` with its ``timing`` (from :func:`planned_durations`)
    and its ``program``'s name (time allocation)."""
    computed, started, refusal = timing or (0.0, False, "")
    # A resumed sequence needs what is left; the requester's estimate described the whole.
    duration = computed if started else max(sequence.declared_duration_s or 0.0, computed)
    return Candidate(
        id=sequence.id,
        priority=sequence.priority,
        duration_s=duration,
        window_start=sequence.window_start,
        window_end=sequence.window_end,
        ra_deg=sequence.ra_deg,
        dec_deg=sequence.dec_deg,
        target_type=sequence.target_type,
        preferred=sequence.t_prefered,
        min_altitude_deg=sequence.min_altitude_deg,
        max_airmass=sequence.max_airmass,
        min_moon_distance_deg=sequence.min_moon_distance_deg,
        name=sequence.name,
        refusal=refusal,
        program=program,
    )


def load_candidates(
    session: Session,
    config: SiteConfig,
    now: datetime,
    ids: list[int] | None = None,
    lost: Mapping[str, str] | None = None,
) -> Loaded:
    """Sequences to plan (all, or only ``ids``) and the executing one, as planner inputs; those
    that need a ``lost`` instrument (instrument -> its loss) are refused with the reason."""
    wanted: ColumnElement[bool] = Sequence.state.in_(PLANNABLE_STATES)
    if ids is not None:
        wanted = wanted & Sequence.id.in_(ids)
    query = select(Sequence).where(wanted | (Sequence.state == S.EXECUTING)).order_by(Sequence.id)
    sequences = session.scalars(query).all()
    timings = planned_durations(
        session,
        config,
        (*PLANNABLE_STATES, S.EXECUTING),
        ids=None if ids is None else [*ids, *(s.id for s in sequences)],
        lost=lost,
    )
    programs: dict[int, str] = {
        request_id: name
        for request_id, name in session.execute(
            select(Request.id, ScientificProgram.name)
            .join(ScientificProgram, Request.program_id == ScientificProgram.id)
            .where(Request.id.in_({s.request_id for s in sequences}))
        )
    }
    loaded = Loaded(uses=program_uses(session))
    for sequence in sequences:
        candidate = candidate_of(
            sequence, timings.get(sequence.id), programs.get(sequence.request_id, "")
        )
        if sequence.state == S.EXECUTING:
            end = datetime.fromtimestamp(now.timestamp() + candidate.duration_s, UTC)
            loaded.executing.append(Executing(sequence.id, sequence.priority, end, sequence.name))
        else:
            loaded.candidates.append(candidate)
    return loaded
