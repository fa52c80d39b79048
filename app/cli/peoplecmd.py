"""``pyros user``, ``pyros program``, ``pyros country``: people, programs and quotas (#23).

The acting user is ``--as NAME`` (default: ``$PYROS_USER``, else ``pyros``, the automatic
system user). Adding, disabling and setting quotas need an admin; listing and showing do not.
A refusal is one line on stderr, exit 2, and nothing is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from app.cli.common import ready_engine
from app.cli.errors import CliError
from app.cli.groups import command_group
from app.cli.output import print_json, print_table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# The database and the domain are imported inside the functions (import time): every command
# module is imported by `pyros --help`, and each command answers within the CLI's 2 s.

user_app = command_group("Users (admin, operator, observer) and who may do what.")
program_app = command_group("Scientific programs: members, priority, quota.")
country_app = command_group("Partner countries and their quotas.")

ACTOR_HELP = "Acting user (default: $PYROS_USER, else pyros)."


def default_actor() -> str:
    """The acting user when ``--as`` is not given."""
    return os.environ.get("PYROS_USER") or "pyros"


@contextmanager
def refusals() -> Iterator[Session]:
    """A transaction whose :class:`AccessError` becomes a one-line exit 2 (rolled back)."""
    # Import time: the database and the domain load only when a command runs.
    from infra.db import session_scope
    from tasks.requests.people import AccessError

    try:
        with session_scope(ready_engine()) as session:
            yield session
    except AccessError as refused:
        raise CliError(str(refused)) from None


def _show(data: Any, json_output: bool, human: Callable[[Any], None]) -> None:
    if json_output:
        print_json(data)
    else:
        human(data)


@user_app.command("add")
def user_add(
    username: str = typer.Argument(..., help="Login name."),
    level: str = typer.Option("observer", "--level", help="admin, operator or observer."),
    program: list[str] = typer.Option([], "--program", help="Member of this program (repeat)."),
    country: str | None = typer.Option(None, "--country", help="Partner country."),
    quota: float = typer.Option(0.0, "--quota", help="Personal quota (hours)."),
    email: str = typer.Option("", "--email"),
    first_name: str = typer.Option("", "--first-name"),
    last_name: str = typer.Option("", "--last-name"),
    actor: str = typer.Option(default_actor, "--as", help=ACTOR_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Add a user (admin only)."""
    from tasks.requests.people import add_user, user_info

    details = {
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "country": country,
        "quota_hours": quota,
        "programs": program,
    }
    with refusals() as session:
        data = user_info(session, add_user(session, actor, username, level, details=details))
    _show(data, json_output, lambda d: typer.echo(f"user {d['username']} added ({d['level']})"))


@user_app.command("list")
def user_list(json_output: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the users with their level, programs and quota."""
    from tasks.requests.people import list_users

    with refusals() as session:
        users = list_users(session)
    if json_output:
        print_json(users)
        return
    print_table(
        "Users",
        ["user", "level", "active", "country", "programs", "quota h", "used h", "requests"],
        [
            [
                u["username"],
                u["level"],
                "yes" if u["active"] else "no",
                u["country"] or "-",
                ", ".join(u["programs"]),
                f"{u['quota_hours']:g}",
                f"{u['used_hours']:.3f}",
                u["requests"],
            ]
            for u in users
        ],
    )


@user_app.command("show")
def user_show(
    username: str = typer.Argument(..., help="Login name."),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show one user."""
    from tasks.requests.people import find_user, user_info

    with refusals() as session:
        data = user_info(session, find_user(session, username, active=False))
    _show(data, json_output, _print_mapping)


@user_app.command("disable")
def user_disable(
    username: str = typer.Argument(..., help="Login name."),
    actor: str = typer.Option(default_actor, "--as", help=ACTOR_HELP),
) -> None:
    """Disable a user (admin only): kept with their requests, no longer able to submit."""
    from tasks.requests.people import disable_user

    with refusals() as session:
        disable_user(session, actor, username)
    typer.echo(f"user {username} disabled")


@program_app.command("add")
def program_add(
    name: str = typer.Argument(..., help="Program name."),
    priority: int = typer.Option(0, "--priority", help="Higher is more important."),
    quota: float = typer.Option(0.0, "--quota", help="Quota over the period (hours)."),
    member: list[str] = typer.Option([], "--member", help="Member user (repeat)."),
    description: str = typer.Option("", "--about", help="What the program is for."),
    actor: str = typer.Option(default_actor, "--as", help=ACTOR_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Add a scientific program (admin only)."""
    from tasks.requests.people import add_program, program_info

    with refusals() as session:
        program = add_program(
            session,
            actor,
            name,
            priority=priority,
            quota_hours=quota,
            members=tuple(member),
            description=description,
        )
        data = program_info(program)
    _show(data, json_output, lambda d: typer.echo(f"program {d['name']} added"))


@program_app.command("add-member")
def program_add_member(
    name: str = typer.Argument(..., help="Program name."),
    username: str = typer.Argument(..., help="User to add."),
    actor: str = typer.Option(default_actor, "--as", help=ACTOR_HELP),
) -> None:
    """Make a user a member of a program (admin only)."""
    from tasks.requests.people import add_member

    with refusals() as session:
        add_member(session, actor, name, username)
    typer.echo(f"user {username} is now a member of {name}")


@program_app.command("list")
def program_list(json_output: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the programs with their priority, quota, use and members."""
    from tasks.requests.people import list_programs

    with refusals() as session:
        programs = list_programs(session)
    if json_output:
        print_json(programs)
        return
    print_table(
        "Scientific programs",
        ["program", "priority", "quota h", "used h", "left h", "members"],
        [
            [
                p["name"],
                p["priority"],
                f"{p['quota_hours']:g}",
                f"{p['used_hours']:.3f}",
                f"{p['left_hours']:.3f}",
                ", ".join(p["members"]),
            ]
            for p in programs
        ],
    )


@program_app.command("show")
def program_show(
    name: str = typer.Argument(..., help="Program name."),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show one program."""
    from tasks.requests.people import find_program, program_info

    with refusals() as session:
        data = program_info(find_program(session, name))
    _show(data, json_output, _print_mapping)


@country_app.command("list")
def country_list(json_output: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the partner countries and their quotas."""
    from tasks.requests.people import list_countries

    with refusals() as session:
        countries = list_countries(session)
    if json_output:
        print_json(countries)
        return
    print_table(
        "Countries",
        ["country", "quota h", "used h", "left h", "users"],
        [
            [
                c["name"],
                f"{c['quota_hours']:g}",
                f"{c['used_hours']:.3f}",
                f"{c['left_hours']:.3f}",
                c["users"],
            ]
            for c in countries
        ],
    )


@country_app.command("set-quota")
def country_set_quota(
    name: str = typer.Argument(..., help="Country name."),
    hours: float = typer.Argument(..., help="Quota (hours)."),
    create: bool = typer.Option(False, "--create", help="Add the country if it is new."),
    actor: str = typer.Option(default_actor, "--as", help=ACTOR_HELP),
) -> None:
    """Set a country's quota in hours (admin only)."""
    from tasks.requests.people import set_country_quota

    with refusals() as session:
        set_country_quota(session, actor, name, hours, create=create)
    typer.echo(f"country {name}: quota {hours:g} h")


def _print_mapping(data: dict[str, Any]) -> None:
    for key, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        typer.echo(f"{key:>12}: {shown}")
