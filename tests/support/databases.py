"""Per-test databases: a migrated template per test session, copied for every test.

SQLite: the template file is copied. PostgreSQL (when ``PYROS_TEST_POSTGRES_URL`` is set, e.g.
``postgresql+psycopg2://postgres@127.0.0.1:5432/test``): ``CREATE DATABASE ... TEMPLATE``. Names
carry the creating process id so that leftovers of a killed run are recognised and dropped.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from infra.config import load_config
from infra.db.bootstrap import init_database
from infra.db.engine import create_pyros_engine

POSTGRES_ENV = "PYROS_TEST_POSTGRES_URL"
_NAME = re.compile(r"^pyros_t(?:pl)?_(\d+)_[0-9a-f]+$")


def only_on(backend: str) -> pytest.MarkDecorator:
    """Run a database test on one backend instead of both.

    For a test whose proof needs one backend (a cut proxy in front of PostgreSQL, SQLite's
    locking) or does not depend on it (the stack tests, minutes each): each says which and why.
    No database of the other backend is made for it. The ``db_backend`` fixture still skips
    PostgreSQL when the suite is off.

    Parameters
    ----------
    backend : str
        ``"sqlite"`` or ``"postgresql"``.
    """
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unknown database backend {backend!r}: sqlite or postgresql")
    return pytest.mark.parametrize("db_backend", [backend], indirect=True)


def postgres_admin_url() -> str | None:
    """The URL of the PostgreSQL server the tests may create databases on, or None."""
    return os.environ.get(POSTGRES_ENV) or None


def _admin_engine(url: str):
    return create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def drop_stale_postgres_databases(admin_url: str) -> None:
    """Drop test databases left by processes that no longer exist."""
    engine = _admin_engine(admin_url)
    try:
        with engine.connect() as conn:
            names = (
                conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE 'pyros_t%'"))
                .scalars()
                .all()
            )
            for name in names:
                match = _NAME.match(name)
                if match and not psutil.pid_exists(int(match.group(1))):
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


class SqliteDatabases:
    """Migrated SQLite template, copied per test."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.template = directory / "template.db"
        engine = create_pyros_engine(f"sqlite:///{self.template}")
        init_database(engine, load_config())
        engine.dispose()  # closing the last connection checkpoints the WAL into the file

    def new(self) -> str:
        """A fresh database URL."""
        path = self.directory / f"test-{uuid.uuid4().hex[:12]}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        """Delete a test database."""
        path = Path(make_url(url).database)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


class PostgresDatabases:
    """Migrated PostgreSQL template database, cloned per test."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.prefix = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.template_name = f"pyros_tpl_{self.prefix}"
        self._admin = _admin_engine(admin_url)
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.template_name}"'))
        engine = create_pyros_engine(self._url(self.template_name))
        init_database(engine, load_config())
        engine.dispose()

    def _url(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def new(self) -> str:
        """A fresh database URL."""
        name = f"pyros_t_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template_name}"'))
        return self._url(name)

    def drop(self, url: str) -> None:
        """Drop a test database (closing whatever still connects to it)."""
        name = make_url(url).database
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        """Drop the template."""
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template_name}" WITH (FORCE)'))
        self._admin.dispose()
