"""A request at a glance, for the Prefect UI's request artifact (issue #23).

:func:`request_summary` reads a request's state, its sequences with their states and its
images (with :func:`tasks.requests.lifecycle.request_images`); :func:`summary_markdown` renders
it as the artifact's Markdown. Both are pure over the database: publishing is
:mod:`tasks.requests.prefect_tasks`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.models import ScientificProgram, Sequence, User
from infra.db.sequence_state import FINAL_STATES, SequenceState
from infra.journal import to_json_payload
from tasks.requests.lifecycle import find_request, request_images


def artifact_key(request_id: int) -> str:
    """The stable key of a request's artifact (its versions are the request's history)."""
    return f"request-{request_id}"


def request_state(cancelled: bool, states: list[str]) -> str:
    """One word for a request: ``cancelled``, ``done`` (every sequence final), ``executing``
    (one runs now), ``planned`` (one is in tonight's schedule) or ``waiting``."""
    if cancelled:
        return "cancelled"
    if states and all(SequenceState(s) in FINAL_STATES for s in states):
        return "done"
    for state in (SequenceState.EXECUTING, SequenceState.PLANNED):
        if state.value in states:
            return state.value
    return "waiting"


def request_summary(session: Session, request_id: int) -> dict[str, Any]:
    """The request ``request_id``: state, who and what, sequences with states, images
    (JSON-able).

    Raises
    ------
    tasks.requests.people.AccessError
        When there is no such request.
    """
    request = find_request(session, request_id)
    user = session.get(User, request.user_id)
    program = session.get(ScientificProgram, request.program_id)
    sequences = list(
        session.scalars(
            select(Sequence).where(Sequence.request_id == request_id).order_by(Sequence.id)
        )
    )
    summary = {
        "request_id": request.id,
        "name": request.name,
        "user": user.username if user else None,
        "program": program.name if program else None,
        "submitted_at": request.submitted_at,
        "state": request_state(request.cancelled_at is not None, [s.state for s in sequences]),
        "cancelled_at": request.cancelled_at,
        "cancel_reason": request.cancel_reason,
        "sequences": [
            {"id": s.id, "name": s.name, "state": s.state, "reason": s.state_reason}
            for s in sequences
        ],
        "images": request_images(session, request_id),
    }
    return dict(to_json_payload(summary))


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value).replace("|", "\\|")


def _quality(nrt: dict[str, Any] | None) -> str:
    if nrt is None:
        return "-"
    if nrt["status"] != "done":
        return f"{nrt['status']}: {nrt['reason']}" if nrt["reason"] else nrt["status"]
    parts = [
        f'FWHM {nrt["fwhm_arcsec"]:.2f}"' if nrt["fwhm_arcsec"] is not None else "",
        f"lim {nrt['limiting_mag']:.2f}" if nrt["limiting_mag"] is not None else "",
        f"{nrt['n_sources']} sources" if nrt["n_sources"] is not None else "",
    ]
    return "done " + ", ".join(p for p in parts if p)


def summary_markdown(summary: dict[str, Any]) -> str:
    """The artifact's Markdown: a header line, the sequences and the images as tables."""
    lines = [
        f"# Request {summary['request_id']} {summary['name']!r}: {summary['state']}",
        "",
        f"Submitted {summary['submitted_at']} by {_cell(summary['user'])} "
        f"(program {_cell(summary['program'])}).",
    ]
    if summary["cancelled_at"] is not None:
        lines.append(f"{summary['cancel_reason']} at {summary['cancelled_at']}.")
    lines += ["", "| sequence | name | state | reason |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {s['id']} | {_cell(s['name'])} | {s['state']} | {_cell(s['reason'])} |"
        for s in summary["sequences"]
    ]
    images = summary["images"]
    lines += ["", f"{len(images)} image(s)."]
    if images:
        lines += [
            "",
            "| image | time (UTC) | camera | filter | exposure s | file | calibrated | NRT |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {i['id']} | {i['acquired_at']} | {_cell(i['instrument'])} | {_cell(i['filter'])}"
            f" | {i['exposure_s']:g} | {_cell(i['file'])} | {_cell(i['calibrated_file'])}"
            f" | {_cell(_quality(i['nrt']))} |"
            for i in images
        ]
    return "\n".join(lines) + "\n"
