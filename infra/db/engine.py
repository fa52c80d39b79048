"""Engines and sessions for SQLite (embedded default) and PostgreSQL.

SQLite is shared by several writer processes (watchers, flows, the CLI), so every connection uses
WAL mode and a busy timeout, and every transaction starts with ``BEGIN IMMEDIATE``: a deferred
transaction that later upgrades to a write lock can fail at once with "database is locked" (SQLite
does not retry that upgrade), whereas an immediate one waits for the busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from infra.secrets import check_password_present
from infra.settings import load_settings

#: How long a SQLite writer waits for the lock before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(  # pragma: no cover - exercised via engine
        dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry
    ) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:  # pragma: no cover - exercised via engine
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_pyros_engine(url: str, *, connect_timeout_s: float = 5.0) -> Engine:
    """Create an engine configured for PyROS's access pattern.

    Parameters
    ----------
    url : str
        SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg2://...``).
    connect_timeout_s : float
        How long to wait for a PostgreSQL connection before failing.

    Raises
    ------
    SettingsError
        When the URL's password is the mask of a record (the run file), not the secret.
    """
    check_password_present(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    connect_args = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = max(1, int(connect_timeout_s))
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def get_engine(url: str | None = None) -> Engine:
    """The shared engine for ``url`` (default: ``PYROS_DATABASE_URL`` or the embedded SQLite)."""
    if url is None:
        url = load_settings().database_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = create_pyros_engine(url)
        return engine


def reset_engines() -> None:
    """Dispose every cached engine (tests, and after a fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


_factories: dict[int, sessionmaker[Session]] = {}


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One short transaction: commit on success, roll back on any exception.

    Parameters
    ----------
    engine : Engine, optional
        Engine to use (default: :func:`get_engine`).
    """
    engine = engine or get_engine()
    factory = _factories.get(id(engine))
    if factory is None or factory.kw.get("bind") is not engine:
        factory = _factories[id(engine)] = sessionmaker(bind=engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
