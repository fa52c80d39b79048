"""Store a validated request in one transaction, with its raw XML in the journal.

A refused request leaves the database exactly as it was: nothing is journaled or stored unless
everything validates (the refusal is reported to the submitter instead). A stored request's
sequences start in ``to-be-planned``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from infra.clock import Clock, get_clock
from infra.config import SiteConfig, get_config
from infra.db import session_scope
from infra.db.models import (
    Album,
    JournalEntry,
    Plan,
    Request,
    ScientificProgram,
    Sequence,
    SequenceTransition,
    User,
)
from infra.db.sequence_state import SequenceState, creation_row
from infra.events import REQUEST_SUBMITTED, emit
from infra.journal import KIND_REQUEST, record
from tasks.requests.parse import (
    RequestError,
    content_sha256,
    parse_request,
    read_request_file,
)
from tasks.requests.validate import ValidRequest, validate_request

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """What was stored."""

    request_id: int
    sequence_ids: tuple[int, ...]
    source: str
    name: str
    user: str
    program: str
    estimated_hours: float
    journal_id: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (for ``--json`` and flow results)."""
        return {
            "request_id": self.request_id,
            "sequence_ids": list(self.sequence_ids),
            "sequences": len(self.sequence_ids),
            "source": self.source,
            "name": self.name,
            "user": self.user,
            "program": self.program,
            "estimated_hours": round(self.estimated_hours, 4),
            "journal_id": self.journal_id,
        }


def _remaining(quota: float, used: float) -> float:
    return max(0.0, quota - used)


def _check_submitter(
    session: Session, valid: ValidRequest, username: str
) -> tuple[User, ScientificProgram]:
    spec = valid.spec
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active:
        state = "unknown" if user is None else "inactive"
        raise RequestError(spec.source, None, "user", f"{state} user {username!r}")
    program = session.scalar(
        select(ScientificProgram).where(ScientificProgram.name == spec.program)
    )
    if program is None or not program.is_active:
        known = ", ".join(
            repr(n)
            for n in session.scalars(
                select(ScientificProgram.name).where(ScientificProgram.is_active)
            )
        )
        state = "unknown" if program is None else "inactive"
        raise RequestError(
            spec.source,
            1,
            "/request@scientific_program",
            f"{state} scientific program {spec.program!r} (known: {known or 'none'})",
        )
    if program not in user.programs:
        raise RequestError(
            spec.source,
            1,
            "/request@scientific_program",
            f"user {username!r} is not a member of program {program.name!r}",
        )
    need = valid.estimated_hours
    holders = [
        ("user", user.username, user.quota_hours, user.used_hours),
        ("program", program.name, program.quota_hours, program.used_hours),
    ]
    if user.country is not None:
        holders.append(
            ("country", user.country.name, user.country.quota_hours, user.country.used_hours)
        )
    for kind, name, quota, used in holders:
        left = _remaining(quota, used)
        if need > left + 1e-9:
            raise RequestError(
                spec.source,
                None,
                "quota",
                f"the request needs {need:.3f} h but {kind} {name!r} has {left:.3f} h left",
            )
    return user, program


def store_request(
    session: Session,
    valid: ValidRequest,
    username: str,
    raw: bytes,
    *,
    clock: Clock | None = None,
    is_alert: bool = False,
    refuse_duplicate: bool = False,
) -> IngestResult:
    """Check the submitter and store ``valid`` in ``session`` (the caller's transaction).

    Parameters
    ----------
    session : Session
        The caller's transaction: nothing is committed here.
    valid : ValidRequest
        The validated request.
    username : str
        Submitting user (must exist and belong to the request's program).
    raw : bytes
        The request as received (journaled).
    clock : Clock, optional
        Clock of the journal entry (default: the process clock).
    is_alert : bool
        Whether it is an alert's follow-up request (``requests.is_alert``).
    refuse_duplicate : bool
        Refuse it when the same user already submitted the same content (its content hash).

    Raises
    ------
    RequestError
        Unknown or inactive user or program, not a member, not enough quota, or (with
        ``refuse_duplicate``) a duplicate, naming the first request.
    """
    clock = clock or get_clock()
    spec = valid.spec
    user, program = _check_submitter(session, valid, username)
    content = content_sha256(spec)
    if refuse_duplicate:
        _refuse_duplicate(session, spec.source, user, content)
    entry = _journal(session, valid, username, raw, clock)
    request = Request(
        name=spec.name,
        user_id=user.id,
        program_id=program.id,
        target_type=spec.target_type,
        is_alert=is_alert,
        submitted_at=valid.submitted_at,
        source=spec.source,
        raw_sha256=entry.sha256,
        content_sha256=content,
        journal_id=entry.id,
    )
    session.add(request)
    session.flush()
    sequence_ids = _insert_sequences(session, request.id, valid, username)
    _insert_albums_and_plans(session, sequence_ids, valid)
    return IngestResult(
        request_id=request.id,
        sequence_ids=tuple(sequence_ids),
        source=spec.source,
        name=spec.name,
        user=username,
        program=program.name,
        estimated_hours=valid.estimated_hours,
        journal_id=entry.id,
    )


def _refuse_duplicate(session: Session, source: str, user: User, content: str) -> None:
    """Raise a :class:`RequestError` naming the first request of ``user`` with this content."""
    first = session.execute(
        select(Request.id, Request.name, Request.submitted_at)
        .where(Request.user_id == user.id, Request.content_sha256 == content)
        .order_by(Request.id)
        .limit(1)
    ).first()
    if first is not None:
        raise RequestError(
            source,
            None,
            "duplicate",
            f"the same request was already submitted by {user.username} as request "
            f"{first.id} ({first.name!r}, {first.submitted_at:%Y-%m-%d %H:%M:%S} UTC); "
            "submit it again with --again (the submit-request deployment: again=true)",
        )


def _journal(
    session: Session, valid: ValidRequest, username: str, raw: bytes, clock: Clock
) -> JournalEntry:
    """The request's raw XML in the journal, in the caller's transaction."""
    spec = valid.spec
    entry = record(
        KIND_REQUEST,
        f"{username}:{Path(spec.source).name}",
        {
            "source": spec.source,
            "user": username,
            "name": spec.name,
            "submitted_at": valid.submitted_at,
        },
        sim_time=valid.submitted_at,
        raw=raw,
        into=session,
        clock=clock,
    )
    if entry is None:  # only a write handed to a queue returns no entry; this one is direct
        raise RuntimeError("the journal returned no entry for the request")
    return entry


def _insert_sequences(
    session: Session, request_id: int, valid: ValidRequest, username: str
) -> list[int]:
    """The request's sequences in ``to-be-planned``, with their creation transitions."""
    spec = valid.spec
    # Bulk inserts (thousands of rows for a big request); RETURNING keeps the input order.
    state = SequenceState.TO_BE_PLANNED
    reason = f"submitted by {username} from {Path(spec.source).name}"
    sequence_ids = session.scalars(
        insert(Sequence).returning(Sequence.id, sort_by_parameter_order=True),
        [
            {
                "request_id": request_id,
                "name": item.spec.name,
                "target_type": spec.target_type,
                "target_coords": item.spec.target_coords,
                "ra_deg": item.ra_deg,
                "dec_deg": item.dec_deg,
                "priority": item.priority,
                "declared_duration_s": item.spec.duration_s,
                "jd1": item.spec.jd1,
                "jd2": item.spec.jd2,
                "relative": spec.relative,
                "window_start": item.window_start,
                "window_end": item.window_end,
                "t_prefered": item.t_prefered,
                "min_altitude_deg": item.spec.min_altitude_deg,
                "max_airmass": item.spec.max_airmass,
                "min_moon_distance_deg": item.spec.min_moon_distance_deg,
                "state": state.value,
                "state_changed_at": valid.submitted_at,
                "state_reason": reason,
            }
            for item in valid.sequences
        ],
    ).all()
    session.execute(
        insert(SequenceTransition),
        [creation_row(sid, state, reason, valid.submitted_at) for sid in sequence_ids],
    )
    return list(sequence_ids)


def _insert_albums_and_plans(
    session: Session, sequence_ids: list[int], valid: ValidRequest
) -> None:
    """Every sequence's albums (one per camera, in order) and their plans."""
    albums = [
        (sid, position, album)
        for sid, item in zip(sequence_ids, valid.sequences, strict=True)
        for position, album in enumerate(item.spec.albums)
    ]
    album_ids = session.scalars(
        insert(Album).returning(Album.id, sort_by_parameter_order=True),
        [
            {
                "sequence_id": sid,
                "name": album.name,
                "instrument": album.instrument,
                "position": position,
            }
            for sid, position, album in albums
        ],
    ).all()
    session.execute(
        insert(Plan),
        [
            {
                "album_id": album_id,
                "name": plan.name,
                "filter": plan.filter,
                "exposure_s": plan.exposure_s,
                "nb_images": plan.nb_images,
                "images_done": 0,
                "position": position,
            }
            for album_id, (_, _, album) in zip(album_ids, albums, strict=True)
            for position, plan in enumerate(album.plans)
        ],
    )


def ingest_request_bytes(
    data: bytes,
    source: str,
    *,
    user: str = "pyros",
    engine: Engine | None = None,
    config: SiteConfig | None = None,
    clock: Clock | None = None,
    submitted_at: datetime | None = None,
    again: bool = False,
) -> IngestResult:
    """Parse, validate and store a request in one transaction.

    Parameters
    ----------
    data : bytes
        The request XML, exactly as received.
    source : str
        Its origin (file name), used in messages and the journal.
    user : str
        Submitting user (must exist and belong to the request's program).
    engine : Engine, optional
        Database (default: the process database).
    config : SiteConfig, optional
        Site configuration (default: the process configuration).
    clock : Clock, optional
        Clock giving the submission instant.
    submitted_at : datetime, optional
        Submission instant (default: the clock's now); relative windows start here.
    again : bool
        Store it even when the same user already submitted the same content (otherwise that
        is refused, naming the first request).

    Returns
    -------
    IngestResult
        The stored request.

    Raises
    ------
    RequestError
        On any problem (a duplicate too); the database is unchanged.
    """
    config = config or get_config()
    clock = clock or get_clock()
    spec = parse_request(data, source, config.requests.max_file_bytes)
    valid = validate_request(spec, config, submitted_at or clock.now())
    with session_scope(engine) as session:
        result = store_request(session, valid, user, data, clock=clock, refuse_duplicate=not again)
    _announce(result, clock, engine)
    return result


def ingest_request_file(
    path: Path | str,
    *,
    user: str = "pyros",
    engine: Engine | None = None,
    config: SiteConfig | None = None,
    clock: Clock | None = None,
    submitted_at: datetime | None = None,
    again: bool = False,
) -> IngestResult:
    """Read ``path`` (size-capped) and ingest it; see :func:`ingest_request_bytes`."""
    config = config or get_config()
    data = read_request_file(path, config.requests.max_file_bytes)
    return ingest_request_bytes(
        data,
        str(path),
        user=user,
        engine=engine,
        config=config,
        clock=clock,
        submitted_at=submitted_at,
        again=again,
    )


def _announce(result: IngestResult, clock: Clock, engine: Engine | None) -> None:
    """Tell the night a request arrived (after commit; the planner re-plans on it)."""
    try:
        emit(
            REQUEST_SUBMITTED,
            f"pyros.request.{result.request_id}",
            {
                "request_id": result.request_id,
                "sequences": len(result.sequence_ids),
                "user": result.user,
                "program": result.program,
            },
            source="requests",
            clock=clock,
            into=engine,
        )
    except Exception as exc:
        log.warning("request %s stored but not announced: %s", result.request_id, exc)
