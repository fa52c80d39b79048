"""The database: engine and sessions, ORM models, the sequence state machine, migrations."""

from infra.db.engine import get_engine, reset_engines, session_scope

__all__ = ["get_engine", "reset_engines", "session_scope"]
