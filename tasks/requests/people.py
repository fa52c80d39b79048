"""People and programs: users, scientific programs, countries, and who may do what (issue #23).

User levels decide: an **observer** submits and cancels their own requests; an **operator**
cancels anyone's; an **admin** (and the automatic ``system`` user ``pyros``) manages people,
programs and quotas. Every refusal is an :class:`AccessError` naming the problem, raised before
anything is written; every change is journaled (kind ``operator``) in the same transaction.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.db.models import Country, Request, ScientificProgram, User, UserLevel
from infra.journal import KIND_OPERATOR, record

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class Level(StrEnum):
    """User levels, most powerful first (their rows are made by ``pyros db init``)."""

    SYSTEM = "system"
    ADMIN = "admin"
    OPERATOR = "operator"
    OBSERVER = "observer"


#: Who manages people, programs and quotas; who may cancel anyone's request.
MANAGERS = frozenset({Level.SYSTEM, Level.ADMIN})
CANCEL_ANY = frozenset({Level.SYSTEM, Level.ADMIN, Level.OPERATOR})


class AccessError(ValueError):
    """A refused people/program/quota operation (bad input or not allowed): exit 2."""


def check_name(kind: str, name: str) -> str:
    """``name`` if it is a usable user/program/country name; :class:`AccessError` otherwise."""
    if not _NAME.match(name):
        raise AccessError(
            f"{kind} name {name!r}: 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_hours(what: str, hours: float) -> float:
    """``hours`` if it is a finite, non-negative number of hours."""
    if not hours >= 0.0 or hours == float("inf"):
        raise AccessError(f"{what}: {hours!r} is not a number of hours >= 0")
    return hours


def find_user(session: Session, username: str, *, active: bool = True) -> User:
    """The user ``username``; refused when unknown (or, with ``active``, inactive)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccessError(f"unknown user {username!r}")
    if active and not user.is_active:
        raise AccessError(f"inactive user {username!r}")
    return user


def find_program(session: Session, name: str) -> ScientificProgram:
    """The scientific program ``name``; refused when unknown."""
    program = session.scalar(select(ScientificProgram).where(ScientificProgram.name == name))
    if program is None:
        known = ", ".join(session.scalars(select(ScientificProgram.name).order_by("name")))
        raise AccessError(f"unknown scientific program {name!r} (known: {known or 'none'})")
    return program


def find_country(session: Session, name: str) -> Country:
    """The country ``name``; refused when unknown."""
    country = session.scalar(select(Country).where(Country.name == name))
    if country is None:
        known = ", ".join(session.scalars(select(Country.name).order_by("name")))
        raise AccessError(f"unknown country {name!r} (known: {known or 'none'})")
    return country


def level_of(user: User) -> Level:
    """The user's level (a user without one is an observer)."""
    name = user.level.name if user.level is not None else Level.OBSERVER.value
    try:
        return Level(name)
    except ValueError:
        return Level.OBSERVER


def require_manager(session: Session, actor: str, what: str) -> User:
    """The acting user, who must be an active admin (or ``system``) to do ``what``."""
    user = find_user(session, actor)
    if level_of(user) not in MANAGERS:
        raise AccessError(f"{actor!r} is {level_of(user).value}: only an admin may {what}")
    return user


def _journal(session: Session, actor: str, payload: dict[str, Any]) -> None:
    record(KIND_OPERATOR, actor, payload, into=session)


def add_user(
    session: Session, actor: str, username: str, level: str, *, details: dict[str, Any]
) -> User:
    """Create a user (``details``: email, first_name, last_name, country, quota_hours,
    programs); refused when ``actor`` is not an admin, the name is taken or a reference is
    unknown."""
    require_manager(session, actor, "add users")
    check_name("user", username)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccessError(f"user {username!r} already exists")
    try:
        wanted = Level(level)
    except ValueError:
        raise AccessError(
            f"unknown user level {level!r} (known: {', '.join(lv.value for lv in Level)})"
        ) from None
    level_row = session.scalar(select(UserLevel).where(UserLevel.name == wanted.value))
    if level_row is None:
        raise AccessError(f"user level {wanted.value!r} is not in the database: run pyros db init")
    country = details.get("country")
    programs = [find_program(session, name) for name in dict.fromkeys(details.get("programs", ()))]
    user = User(
        username=username,
        email=details.get("email", ""),
        first_name=details.get("first_name", ""),
        last_name=details.get("last_name", ""),
        country=find_country(session, country) if country else None,
        level=level_row,
        quota_hours=check_hours("user quota", float(details.get("quota_hours", 0.0))),
        used_hours=0.0,
        is_active=True,
        programs=programs,
    )
    session.add(user)
    session.flush()
    _journal(session, actor, {"command": "user add", "user": username, "level": wanted.value})
    return user


def disable_user(session: Session, actor: str, username: str) -> User:
    """Mark ``username`` inactive (kept with its requests; it may no longer submit)."""
    require_manager(session, actor, "disable users")
    user = find_user(session, username, active=False)
    if user.username == actor:
        raise AccessError(f"{actor!r} may not disable themselves")
    if level_of(user) == Level.SYSTEM:
        raise AccessError(f"{username!r} is the system user (alert follow-ups): never disabled")
    user.is_active = False
    _journal(session, actor, {"command": "user disable", "user": username})
    return user


def user_info(session: Session, user: User) -> dict[str, Any]:
    """What ``user list/show`` prints about one user."""
    requests = session.scalar(select(func.count(Request.id)).where(Request.user_id == user.id))
    return {
        "username": user.username,
        "level": level_of(user).value,
        "active": user.is_active,
        "email": user.email,
        "name": f"{user.first_name} {user.last_name}".strip(),
        "country": user.country.name if user.country is not None else None,
        "programs": sorted(p.name for p in user.programs),
        "quota_hours": user.quota_hours,
        "used_hours": user.used_hours,
        "requests": int(requests or 0),
    }


def list_users(session: Session) -> list[dict[str, Any]]:
    """Every user, by name."""
    return [user_info(session, u) for u in session.scalars(select(User).order_by(User.username))]


def add_program(
    session: Session,
    actor: str,
    name: str,
    *,
    priority: int = 0,
    quota_hours: float = 0.0,
    members: tuple[str, ...] = (),
    description: str = "",
) -> ScientificProgram:
    """Create a scientific program with its priority, quota (hours) and members."""
    require_manager(session, actor, "add programs")
    check_name("program", name)
    if session.scalar(select(ScientificProgram.id).where(ScientificProgram.name == name)):
        raise AccessError(f"scientific program {name!r} already exists")
    users = [find_user(session, member) for member in dict.fromkeys(members)]
    program = ScientificProgram(
        name=name,
        description=description,
        priority=priority,
        quota_hours=check_hours("program quota", quota_hours),
        used_hours=0.0,
        is_active=True,
        members=users,
    )
    session.add(program)
    session.flush()
    _journal(
        session,
        actor,
        {
            "command": "program add",
            "program": name,
            "quota_hours": quota_hours,
            "priority": priority,
            "members": list(members),
        },
    )
    return program


def add_member(session: Session, actor: str, program_name: str, username: str) -> None:
    """Make ``username`` a member of ``program_name`` (refused if already one)."""
    require_manager(session, actor, "change program members")
    program = find_program(session, program_name)
    user = find_user(session, username)
    if user in program.members:
        raise AccessError(f"user {username!r} is already a member of {program_name!r}")
    program.members.append(user)
    _journal(
        session, actor, {"command": "program add-member", "program": program_name, "user": username}
    )


def program_info(program: ScientificProgram) -> dict[str, Any]:
    """What ``program list/show`` prints about one program."""
    return {
        "name": program.name,
        "description": program.description,
        "priority": program.priority,
        "active": program.is_active,
        "quota_hours": program.quota_hours,
        "used_hours": program.used_hours,
        "left_hours": max(0.0, program.quota_hours - program.used_hours),
        "members": sorted(u.username for u in program.members),
    }


def list_programs(session: Session) -> list[dict[str, Any]]:
    """Every scientific program, by name."""
    rows = session.scalars(select(ScientificProgram).order_by(ScientificProgram.name))
    return [program_info(p) for p in rows]


def country_info(session: Session, country: Country) -> dict[str, Any]:
    """What ``country list`` prints about one country."""
    users = session.scalar(select(func.count(User.id)).where(User.country_id == country.id))
    return {
        "name": country.name,
        "quota_hours": country.quota_hours,
        "used_hours": country.used_hours,
        "left_hours": max(0.0, country.quota_hours - country.used_hours),
        "users": int(users or 0),
    }


def list_countries(session: Session) -> list[dict[str, Any]]:
    """Every country, by name."""
    rows = session.scalars(select(Country).order_by(Country.name))
    return [country_info(session, c) for c in rows]


def set_country_quota(
    session: Session, actor: str, name: str, hours: float, *, create: bool = False
) -> Country:
    """Set a country's quota in hours (``create``: add the country when it is new)."""
    require_manager(session, actor, "set quotas")
    check_hours("country quota", hours)
    country = session.scalar(select(Country).where(Country.name == name))
    before: float | None = None
    if country is None:
        if not create:
            find_country(session, name)  # raises, naming the known ones
        country = Country(name=check_name("country", name), quota_hours=hours, used_hours=0.0)
        session.add(country)
    else:
        before = country.quota_hours
    country.quota_hours = hours
    session.flush()
    _journal(
        session,
        actor,
        {"command": "country set-quota", "country": name, "from_hours": before, "hours": hours},
    )
    return country
