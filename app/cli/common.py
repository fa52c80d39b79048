"""What most commands need: the database engine, checked ready, and the configuration."""

from __future__ import annotations

from sqlalchemy import Engine


def ready_engine() -> Engine:
    """The process database, checked reachable and migrated (DatabaseNotReady otherwise)."""
    from infra.db import get_engine
    from infra.db.migrate import ensure_ready

    engine = get_engine()
    ensure_ready(engine)
    return engine
