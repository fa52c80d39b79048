"""What most commands need: the database engine, checked ready, and the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine


def ready_engine() -> Engine:
    """The process database, checked reachable and migrated (DatabaseNotReady otherwise)."""
    # Imported here, not above: every command module imports this one, and SQLAlchemy would
    # cost `pyros --help` a third of a second (the CLI's budget is 2 s a command).
    from infra.db import get_engine
    from infra.db.migrate import ensure_ready

    engine = get_engine()
    ensure_ready(engine)
    return engine
