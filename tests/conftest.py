"""Test isolation: every test gets its own database, temporary directory and Prefect home, and
never touches ``var/`` or a running stack.

Backends: every test using ``engine``/``db_url`` runs on SQLite, and on PostgreSQL too when
``PYROS_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it); without it the PostgreSQL variants are
skipped with that reason.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Isolate before anything reads the environment (infra settings, Prefect's settings).
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="pyros-tests-"))
for _name in (
    "PYROS_DATABASE_URL",
    "PYROS_SITE_CONFIG",
    "PYROS_CLOCK",
    "PYROS_MODE",
    "PREFECT_API_URL",
    "PREFECT_PROFILE",
):
    os.environ.pop(_name, None)
os.environ["PYROS_HOME"] = str(_SESSION_DIR / "home")
os.environ["PREFECT_HOME"] = str(_SESSION_DIR / "prefect")
os.environ["XDG_CACHE_HOME"] = str(_SESSION_DIR / "cache")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["PYROS_CODE_VERSION"] = "test-suite"

import shutil  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import pytest  # noqa: E402

from infra.clock import DiscreteEventClock, set_clock  # noqa: E402
from infra.config import _cached  # noqa: E402
from infra.db.engine import create_pyros_engine, reset_engines  # noqa: E402
from infra.journal import forget_nights_cache  # noqa: E402
from tests.support.databases import (  # noqa: E402
    PostgresDatabases,
    SqliteDatabases,
    drop_stale_postgres_databases,
    postgres_admin_url,
)

SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "seed"
VOEVENT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "voevents"
#: A fixed instant for deterministic tests: an evening at San Pedro Mártir (19:00 local).
EVENING = datetime(2026, 11, 25, 2, 0, 0, tzinfo=UTC)


def pytest_sessionfinish(session, exitstatus) -> None:
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases | None]:
    url = postgres_admin_url()
    if url is None:
        yield None
        return
    drop_stale_postgres_databases(url)
    databases = PostgresDatabases(url)
    yield databases
    databases.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_backend(request) -> str:
    """Each database test runs on SQLite and on PostgreSQL."""
    if request.param == "postgresql" and postgres_admin_url() is None:
        pytest.skip("PostgreSQL suite off: set PYROS_TEST_POSTGRES_URL (as .ci/run does)")
    return request.param


@pytest.fixture
def db_url(db_backend, sqlite_databases, postgres_databases) -> Iterator[str]:
    """A fresh, migrated database with the defaults loaded, dropped after the test."""
    databases = sqlite_databases if db_backend == "sqlite" else postgres_databases
    url = databases.new()
    yield url
    reset_engines()
    databases.drop(url)


@pytest.fixture
def engine(db_url, monkeypatch):
    """Engine on the test's database, also made the process default (PYROS_DATABASE_URL)."""
    monkeypatch.setenv("PYROS_DATABASE_URL", db_url)
    reset_engines()
    forget_nights_cache()
    engine = create_pyros_engine(db_url)
    yield engine
    engine.dispose()
    reset_engines()


@pytest.fixture
def sim_clock() -> Iterator[DiscreteEventClock]:
    """A deterministic clock at :data:`EVENING`, injected as the process clock."""
    clock = DiscreteEventClock(EVENING)
    set_clock(clock)
    yield clock
    set_clock(None)


@pytest.fixture(autouse=True)
def _isolate_process_state(tmp_path, monkeypatch) -> Iterator[None]:
    """Per-test PYROS_HOME; no leaked clock or cached configuration between tests."""
    monkeypatch.setenv("PYROS_HOME", str(tmp_path / "home"))
    yield
    set_clock(None)
    _cached.cache_clear()


@pytest.fixture
def seed_dir() -> Path:
    if not SEED_DIR.is_dir():
        pytest.skip(f"seed data absent: {SEED_DIR}")
    return SEED_DIR


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server for the session (about 10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
