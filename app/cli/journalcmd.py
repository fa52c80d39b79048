"""``pyros journal``: read the night journal."""

from __future__ import annotations

from typing import Any

import typer

from app.cli.common import ready_engine
from app.cli.groups import command_group
from app.cli.output import print_json, print_table

# The database, the configuration and the domain are imported inside the commands: every command
# module is imported by `pyros --help`, and each command answers within the CLI's 2 s.

app = command_group("The night journal (append-only).")


@app.command("list")
def list_entries(
    night: str | None = typer.Option(None, "--night", help="Night label YYYY-MM-DD."),
    kind: list[str] = typer.Option([], "--kind", help="Only these kinds (repeatable)."),
    limit: int = typer.Option(100, "--limit", min=1),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List journal entries (oldest first)."""
    from infra.db import session_scope
    from infra.journal import entries

    with session_scope(ready_engine()) as session:
        items: list[dict[str, Any]] = [
            {
                "id": e.id,
                "kind": e.kind,
                "source": e.source,
                "night": e.night,
                "sim_time": e.sim_time,
                "wall_time": e.wall_time,
                "sha256": e.sha256,
                "raw_bytes": len(e.raw) if e.raw is not None else None,
                "payload": e.payload,
            }
            for e in entries(session, night=night, kinds=kind or None, limit=limit)
        ]
    if json_output:
        print_json(items)
        return
    print_table(
        "Journal",
        ["id", "night", "sim time (UTC)", "kind", "source", "content"],
        [
            [
                i["id"],
                i["night"],
                f"{i['sim_time']:%Y-%m-%d %H:%M:%S}",
                i["kind"],
                i["source"],
                f"{i['raw_bytes']} raw bytes"
                if i["raw_bytes"] is not None
                else str(i["payload"])[:60],
            ]
            for i in items
        ],
    )


@app.command()
def nights(json_output: bool = typer.Option(False, "--json")) -> None:
    """List the nights with their code version and configuration hash."""
    from sqlalchemy import select

    from infra.db import session_scope
    from infra.db.models import Night

    with session_scope(ready_engine()) as session:
        items: list[dict[str, Any]] = [
            {
                "night": n.label,
                "code_version": n.code_version,
                "config_hash": n.config_hash,
                "first_seen_at": n.first_seen_at,
            }
            for n in session.scalars(select(Night).order_by(Night.label))
        ]
    if json_output:
        print_json(items)
        return
    print_table(
        "Nights",
        ["night", "code version", "config hash"],
        [[i["night"], i["code_version"][:16], i["config_hash"][:16]] for i in items],
    )
