"""Runtime settings read from the environment (secrets and per-instance paths live here, not in the
site file).

Environment variables
---------------------
PYROS_HOME
    Directory holding the embedded database, frames, logs and lock files (default ``./var``).
PYROS_DATABASE_URL
    SQLAlchemy URL; default ``sqlite:///$PYROS_HOME/pyros.db``. PostgreSQL:
    ``postgresql+psycopg2://user:password@host:5432/db`` (the password stays in the environment).
PYROS_SITE_CONFIG
    Path of the site configuration file (TOML); default ``$PYROS_HOME/site.toml`` when it exists,
    else the bundled defaults.
PYROS_CLOCK
    ``system`` (default) or ``sim:<start>@<speed>@<wall epoch>`` (see :mod:`infra.clock`).
PYROS_MODE
    ``live``, ``sim`` or ``replay``; default ``sim`` under a simulated clock, else ``live``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class RunMode(StrEnum):
    """What a process runs for: the real night, a simulation, or a replay (events carry it as
    ``pyros.mode`` so that automations match live events only)."""

    LIVE = "live"
    SIM = "sim"
    REPLAY = "replay"


MODES = tuple(mode.value for mode in RunMode)


class SettingsError(ValueError):
    """An environment variable holds a value PyROS cannot use."""


@dataclass(frozen=True)
class Settings:
    """Per-process settings derived from the environment.

    Attributes
    ----------
    home : Path
        Instance directory (database, frames, logs, locks).
    database_url : str
        SQLAlchemy URL of the database.
    site_config : Path or None
        Site configuration file, or None for the bundled defaults.
    clock_spec : str
        Clock specification (``system`` or ``sim:...``).
    mode : RunMode
        Event mode label: live, sim or replay.
    prefect_api_url : str or None
        Prefect API URL when a server is configured.
    """

    home: Path
    database_url: str
    site_config: Path | None
    clock_spec: str
    mode: RunMode
    prefect_api_url: str | None

    @property
    def frames_dir(self) -> Path:
        """Directory where frames are written."""
        return self.home / "frames"

    @property
    def run_dir(self) -> Path:
        """Directory for pid files, locks and sockets of a running stack."""
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        """Directory for process logs."""
        return self.home / "logs"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read the settings from ``environ`` (default: ``os.environ``).

    Parameters
    ----------
    environ : dict, optional
        Environment mapping to read instead of the process environment.

    Returns
    -------
    Settings
        The resolved settings.

    Raises
    ------
    SettingsError
        When ``PYROS_MODE`` is not one of live, sim, replay.
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("PYROS_HOME", "var")).expanduser().absolute()
    database_url = env.get("PYROS_DATABASE_URL") or f"sqlite:///{home / 'pyros.db'}"
    site = env.get("PYROS_SITE_CONFIG")
    if site:
        site_config: Path | None = Path(site).expanduser().absolute()
    elif (home / "site.toml").exists():
        site_config = home / "site.toml"
    else:
        site_config = None
    clock_spec = env.get("PYROS_CLOCK", "system").strip() or "system"
    default_mode = RunMode.SIM if clock_spec.startswith("sim:") else RunMode.LIVE
    label = env.get("PYROS_MODE", default_mode).strip().lower()
    if label not in MODES:
        raise SettingsError(f"PYROS_MODE: {label!r} is not one of {', '.join(MODES)}")
    mode = RunMode(label)
    return Settings(
        home=home,
        database_url=database_url,
        site_config=site_config,
        clock_spec=clock_spec,
        mode=mode,
        prefect_api_url=env.get("PREFECT_API_URL") or None,
    )


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (for logs and messages)."""
    # SQLAlchemy is imported here only: the settings (and the clock) stay light to import.
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"
