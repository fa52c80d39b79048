"""``pyros request``: submit, list and show observation requests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from app.cli.common import ready_engine
from app.cli.errors import CliError
from app.cli.groups import command_group
from app.cli.output import print_json, print_table

if TYPE_CHECKING:
    from infra.db.models import Sequence

# The database, the configuration and the domain are imported inside the commands: every command
# module is imported by `pyros --help`, and each command answers within the CLI's 2 s.

app = command_group("Observation requests.")


@app.command()
def submit(
    file: Path = typer.Argument(..., help="Request XML file (request > sequence > album > plan)."),
    user: str = typer.Option("pyros", "--user", help="Submitting user."),
    again: bool = typer.Option(
        False, "--again", help="Store it even if this user already submitted the same request."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Validate and store a request in one transaction; print its id. The same request
    submitted again by the same user is refused (naming the first) unless --again."""
    from tasks.requests.ingest import ingest_request_file

    engine = ready_engine()
    result = ingest_request_file(file, user=user, engine=engine, again=again)
    if json_output:
        print_json({"ok": True, **result.as_dict()})
    else:
        typer.echo(
            f"request {result.request_id} stored: {len(result.sequence_ids)} sequence(s), "
            f"{result.estimated_hours:.3f} h, from {file}"
        )


def _sequence_summary(sequence: Sequence) -> dict[str, Any]:
    return {
        "id": sequence.id,
        "name": sequence.name,
        "state": sequence.state,
        "state_reason": sequence.state_reason,
        "priority": sequence.priority,
        "target_type": sequence.target_type,
        "target_coords": sequence.target_coords,
        "ra_deg": sequence.ra_deg,
        "dec_deg": sequence.dec_deg,
        "declared_duration_s": sequence.declared_duration_s,
        "window_start": sequence.window_start,
        "window_end": sequence.window_end,
    }


@app.command("list")
def list_requests(
    limit: int = typer.Option(50, "--limit", min=1, help="Most recent N requests."),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List the most recent requests with the state of their sequences."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from infra.db import session_scope
    from infra.db.models import Request, ScientificProgram, User

    with session_scope(ready_engine()) as session:
        rows = session.execute(
            select(Request, User.username, ScientificProgram.name)
            .join(User, Request.user_id == User.id)
            .join(ScientificProgram, Request.program_id == ScientificProgram.id)
            .options(selectinload(Request.sequences))
            .order_by(Request.id.desc())
            .limit(limit)
        ).all()
        items: list[dict[str, Any]] = [
            {
                "id": r.id,
                "name": r.name,
                "user": username,
                "program": program,
                "submitted_at": r.submitted_at,
                "is_alert": r.is_alert,
                "sequences": len(r.sequences),
                "states": dict(Counter(s.state for s in r.sequences)),
            }
            for r, username, program in rows
        ]
    if json_output:
        print_json(items)
        return
    print_table(
        "Requests",
        ["id", "name", "user", "program", "submitted (UTC)", "seq", "states"],
        [
            [
                i["id"],
                i["name"],
                i["user"],
                i["program"],
                i["submitted_at"].strftime("%Y-%m-%d %H:%M:%S"),
                i["sequences"],
                ", ".join(f"{k}: {v}" for k, v in sorted(i["states"].items())),
            ]
            for i in items
        ],
    )


@app.command()
def show(
    request_id: int = typer.Argument(..., help="Request id."),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show one request: its sequences, albums, plans, progress and state history."""
    from infra.db import session_scope
    from infra.db.models import Request

    with session_scope(ready_engine()) as session:
        request = session.get(Request, request_id)
        if request is None:
            raise CliError(f"request {request_id}: no such request")
        data: dict[str, Any] = {
            "id": request.id,
            "name": request.name,
            "target_type": request.target_type,
            "submitted_at": request.submitted_at,
            "source": request.source,
            "is_alert": request.is_alert,
            "journal_id": request.journal_id,
            "cancelled_at": request.cancelled_at,
            "cancelled_by": request.cancelled_by,
            "cancel_reason": request.cancel_reason,
            "sequences": [
                {
                    **_sequence_summary(s),
                    "albums": [
                        {
                            "id": a.id,
                            "name": a.name,
                            "instrument": a.instrument,
                            "plans": [
                                {
                                    "id": p.id,
                                    "name": p.name,
                                    "filter": p.filter,
                                    "exposure_s": p.exposure_s,
                                    "nb_images": p.nb_images,
                                    "images_done": p.images_done,
                                }
                                for p in a.plans
                            ],
                        }
                        for a in s.albums
                    ],
                    "transitions": [
                        {"from": t.from_state, "to": t.to_state, "at": t.at, "reason": t.reason}
                        for t in s.transitions
                    ],
                }
                for s in request.sequences
            ],
        }
    if json_output:
        print_json(data)
        return
    typer.echo(
        f"request {data['id']} {data['name']!r} ({data['target_type']}), submitted "
        f"{data['submitted_at']:%Y-%m-%d %H:%M:%S} UTC from {data['source']}"
    )
    if data["cancelled_at"] is not None:
        typer.echo(f"  {data['cancel_reason']} ({data['cancelled_at']:%Y-%m-%d %H:%M:%S} UTC)")
    for s in data["sequences"]:
        typer.echo(
            f"  sequence {s['id']} {s['name']!r}: {s['state']} (priority {s['priority']}), "
            f"window {s['window_start']:%Y-%m-%d %H:%M:%S} -> "
            f"{s['window_end']:%Y-%m-%d %H:%M:%S}"
        )
        for a in s["albums"]:
            for p in a["plans"]:
                typer.echo(
                    f"    {a['instrument']} / {p['filter']}: {p['images_done']}/"
                    f"{p['nb_images']} x {p['exposure_s']:g} s ({p['name']})"
                )
        for t in s["transitions"]:
            typer.echo(
                f"    {t['at']:%Y-%m-%d %H:%M:%S} {t['from'] or '-'} -> {t['to']}: {t['reason']}"
            )
