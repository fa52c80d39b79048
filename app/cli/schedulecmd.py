"""``pyros schedule``: plan tonight now, insert one sequence, and show the current schedule."""

from __future__ import annotations

from typing import Any

import typer

from app.cli.common import ready_engine
from app.cli.errors import CliError
from app.cli.groups import command_group
from app.cli.output import print_json, print_table

# The database, the configuration and the domain are imported inside the commands: every command
# module is imported by `pyros --help`, and each command answers within the CLI's 2 s.

app = command_group("Tonight's schedule.")


def _summary_line(result: dict[str, Any]) -> str:
    return (
        f"schedule {result['schedule_id']} for night {result['night']}: "
        f"{result['planned']} planned ({result['planned_hours']:.2f} h), "
        f"{result['unplanned']} left out, planned in {result['planning_seconds']:.3f} s"
    )


@app.command()
def plan(
    reason: str = typer.Option("operator", "--reason", help="Why (stored with the schedule)."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Plan the rest of tonight now (from the clock) and save it as the current schedule."""
    from tasks.scheduling.schedule_rows import plan_and_save

    result = plan_and_save(engine=ready_engine(), reason=reason)
    if json_output:
        print_json({"ok": True, **result})
    else:
        typer.echo(_summary_line(result))


@app.command()
def insert(
    sequence_id: int = typer.Argument(..., help="Sequence to add to the current schedule."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Add one sequence to the current schedule incrementally (an alert's goes at the head)."""
    from tasks.scheduling.schedule_rows import SchedulingError, insert_and_save

    try:
        result = insert_and_save(sequence_id, engine=ready_engine())
    except SchedulingError as exc:
        raise CliError(str(exc)) from None
    if json_output:
        print_json({"ok": True, **result})
    else:
        typer.echo(_summary_line(result))


@app.command()
def show(
    night: str | None = typer.Option(
        None, "--night", help="Night label YYYY-MM-DD (default: latest)."
    ),
    schedule_id: int | None = typer.Option(None, "--id", help="A given schedule (also past ones)."),
    all_entries: bool = typer.Option(False, "--all", help="Also list the left-out sequences."),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON (every entry)."),
) -> None:
    """Show the current schedule: planned sequences in order, and why the others are left out."""
    from infra.db import session_scope
    from tasks.scheduling.view import planned_rows, schedule_data

    with session_scope(ready_engine()) as session:
        data = schedule_data(session, night=night, schedule_id=schedule_id)
    if data is None:
        if schedule_id is not None:
            raise CliError(f"schedule {schedule_id}: no such schedule")
        if json_output:
            print_json(None)
        else:
            where = f" for night {night}" if night else ""
            typer.echo(f"no schedule{where} yet (`pyros schedule plan` makes one)")
        return
    if json_output:
        print_json(data)
        return
    typer.echo(
        f"schedule {data['id']} for night {data['night']} ({data['reason']}), made "
        f"{data['created_at']:%Y-%m-%d %H:%M:%S} UTC: {data['planned']} planned, "
        f"{data['unplanned']} left out"
    )
    rows = planned_rows(data)
    if rows:
        print_table("Planned", list(rows[0]), [list(r.values()) for r in rows])
    if data["unplanned_by_reason"]:
        typer.echo(
            "left out: "
            + ", ".join(f"{code} {count}" for code, count in data["unplanned_by_reason"].items())
        )
    if all_entries:
        left = [e for e in data["entries"] if not e["planned"]]
        print_table(
            "Left out",
            ["sequence", "name", "priority", "state", "reason"],
            [[e["sequence_id"], e["name"], e["priority"], e["state"], e["reason"]] for e in left],
        )
