"""``pyros db init``: the schema plus the defaults every installation starts with.

Idempotent: running it again updates what comes from the site configuration (devices, follow-up
strategies) and never duplicates or deletes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from infra.config import SiteConfig
from infra.db.engine import session_scope
from infra.db.migrate import upgrade
from infra.db.models import (
    Country,
    Device,
    ScientificProgram,
    StrategyObs,
    User,
    UserLevel,
)
from infra.db.models.base import Base

_Row = TypeVar("_Row", bound=Base)

DEFAULT_USER = "pyros"
DEFAULT_PROGRAM = "GRB"
DEFAULT_COUNTRY = "France"
DEFAULT_QUOTA_HOURS = 10_000.0

USER_LEVELS = {"system": 100, "admin": 90, "operator": 50, "observer": 10}
DEVICE_KINDS = {
    "mount": "mount",
    "dome": "dome",
    "plc": "plc",
    "camera_vis": "camera",
    "camera_nir": "camera",
    "lamp": "lamp",  # only when [devices.lamp] is configured
    "weather": "weather",  # only when [devices.weather] is configured
}


@dataclass
class InitReport:
    """What :func:`init_defaults` created."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


def _get_or_create(
    session: Session, model: type[_Row], report: InitReport, label: str, **key: Any
) -> _Row:
    instance = session.scalar(select(model).filter_by(**key))
    if instance is None:
        instance = model(**key)
        session.add(instance)
        report.created.append(label)
    return instance


def init_defaults(session: Session, config: SiteConfig) -> InitReport:
    """Create the default country, user levels, user ``pyros``, program ``GRB``, devices
    (instruments included) and follow-up strategies."""
    report = InitReport()
    country = _get_or_create(
        session, Country, report, f"country {DEFAULT_COUNTRY}", name=DEFAULT_COUNTRY
    )
    if report.created and report.created[-1].startswith("country"):
        country.quota_hours, country.used_hours = DEFAULT_QUOTA_HOURS, 0.0
    levels = {}
    for name, priority in USER_LEVELS.items():
        level = _get_or_create(session, UserLevel, report, f"user level {name}", name=name)
        level.priority = priority
        levels[name] = level
    session.flush()

    user = session.scalar(select(User).filter_by(username=DEFAULT_USER))
    if user is None:
        user = User(
            username=DEFAULT_USER,
            first_name="PyROS",
            last_name="automatic submitter",
            email="",
            country=country,
            level=levels["system"],
            quota_hours=DEFAULT_QUOTA_HOURS,
            used_hours=0.0,
            is_active=True,
        )
        session.add(user)
        report.created.append(f"user {DEFAULT_USER}")
    program = session.scalar(select(ScientificProgram).filter_by(name=DEFAULT_PROGRAM))
    if program is None:
        program = ScientificProgram(
            name=DEFAULT_PROGRAM,
            description="Gamma-ray burst follow-up",
            priority=100,
            quota_hours=DEFAULT_QUOTA_HOURS,
            used_hours=0.0,
            is_active=True,
        )
        session.add(program)
        report.created.append(f"program {DEFAULT_PROGRAM}")
    if program not in user.programs:
        user.programs.append(program)

    instruments = {i.device: i for i in config.instruments}
    for name, endpoint in config.devices.configured().items():
        kind = DEVICE_KINDS[name]
        device = session.scalar(select(Device).filter_by(name=name))
        if device is None:
            device = Device(name=name, kind=kind, connected=False, last_error="")
            session.add(device)
            report.created.append(f"device {name}")
        elif (device.host, device.port) != (endpoint.host, endpoint.port):
            report.updated.append(f"device {name}")
        device.host, device.port = endpoint.host, endpoint.port
        instrument = instruments.get(name)
        if instrument is not None:
            device.status = {"instrument": instrument.model_dump(mode="json")}

    _mirror_strategies(session, config, report)
    return report


def _mirror_strategies(session: Session, config: SiteConfig, report: InitReport) -> None:
    """The ``strategy_obs`` rows follow ``[[alerts.strategies]]``; the others are deactivated."""
    for strategy in config.alerts.strategies:
        row = session.scalar(select(StrategyObs).filter_by(name=strategy.name))
        if row is None:
            row = StrategyObs(name=strategy.name)
            session.add(row)
            report.created.append(f"strategy {strategy.name}")
        row.missions = list(strategy.missions)
        row.max_error_radius_deg = strategy.max_error_radius_deg
        row.allow_tiling = strategy.allow_tiling
        row.max_tiles = strategy.max_tiles
        row.error_containment = strategy.error_containment
        row.min_probability = strategy.min_probability
        row.plans = [plan.model_dump(mode="json") for plan in strategy.plans]
        row.is_active = True
    configured = {s.name for s in config.alerts.strategies}
    for row in session.scalars(select(StrategyObs)):
        if row.name not in configured and row.is_active:
            row.is_active = False
            report.updated.append(f"strategy {row.name} deactivated")


def init_database(engine: Engine, config: SiteConfig) -> InitReport:
    """Migrate ``engine``'s database to head and load the defaults."""
    upgrade(engine)
    with session_scope(engine) as session:
        return init_defaults(session, config)
