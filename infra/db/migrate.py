"""Schema migrations (Alembic) driven from Python, for ``pyros db upgrade`` and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError

from infra.settings import redact_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: The newest migration. Kept here so that commands checking the schema need not import Alembic
#: (half a second); tests/infra/db/test_migrations.py proves it equals Alembic's head.
SCHEMA_HEAD = "0008_strategy_probability"


class DatabaseNotReady(RuntimeError):
    """The database is unreachable, not initialised, or behind the code's schema."""


# Alembic is imported inside the functions that migrate: the schema check (ensure_ready) runs in
# every CLI command, which must not pay for it.


def _alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest migration the code knows."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    heads = script.get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads {heads}: merge them")
    return heads[0]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema of ``engine``'s database up to ``revision``."""
    from alembic import command

    config = _alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_ready(engine: Engine) -> None:
    """Raise :class:`DatabaseNotReady` unless the database is reachable and at the code's head."""
    where = redact_url(engine.url.render_as_string(hide_password=False))
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseNotReady(f"database {where} is unreachable: {reason}") from None
    if current is None:
        raise DatabaseNotReady(f"database {where} is not initialised: run `pyros db init`")
    head = SCHEMA_HEAD
    if current != head:
        raise DatabaseNotReady(
            f"database {where} is at revision {current}, the code needs {head}: "
            "run `pyros db upgrade`"
        )
