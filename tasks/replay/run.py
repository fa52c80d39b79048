"""Replay a recorded night and compare: the one entry point of ``pyros replay`` (and of a
future ``replay-night`` deployment). The replay gets a fresh database of its own; its events
carry ``pyros.mode=replay`` and go to no Prefect server."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from infra.config import SiteConfig, config_hash
from infra.db import session_scope
from infra.db.engine import create_pyros_engine
from infra.db.models import Night
from infra.files import write_atomic
from infra.version import code_version
from tasks.replay.compare import (
    DEFAULT_TOLERANCE_S,
    Comparison,
    compare,
    report_markdown,
    summary_json,
)
from tasks.replay.decisions import night_decisions
from tasks.replay.engine import ReplayRun, replay_night
from tasks.replay.inputs import load_inputs
from tasks.replay.whatif import apply_overrides


class ReplayError(ValueError):
    """A replay that cannot start (nothing journaled, the replay's database is the source)."""


@dataclass(frozen=True)
class ReplayOutcome:
    """A replay, its comparison and where its report and database are."""

    run: ReplayRun
    comparison: Comparison
    report: str
    report_path: Path
    database_url: str
    #: The whole replay: reading the journal, re-running the night, comparing, the report.
    wall_seconds: float

    def summary(self) -> dict[str, Any]:
        """The ``--json`` summary."""
        return {
            "night": self.run.night,
            **summary_json(
                self.comparison,
                self.run.warnings,
                self.run.wall_seconds,
                self.run.simulated_seconds,
            ),
            "report": str(self.report_path),
            "database": self.database_url,
        }


@contextmanager
def replay_environment() -> Iterator[None]:
    """Events of the replay are labelled ``replay`` and sent to no Prefect server."""
    saved = {key: os.environ.get(key) for key in ("PYROS_MODE", "PREFECT_API_URL")}
    os.environ["PYROS_MODE"] = "replay"
    os.environ.pop("PREFECT_API_URL", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _fresh_sqlite(out_dir: Path) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "replay.db"
    for leftover in (path, path.with_name("replay.db-wal"), path.with_name("replay.db-shm")):
        leftover.unlink(missing_ok=True)  # the replay's own database of an earlier replay
    return f"sqlite:///{path}"


def provenance_warnings(source: Engine, night: str, config: SiteConfig) -> list[str]:
    """Say when the night was recorded by another code version or configuration."""
    with session_scope(source) as session:
        recorded = session.get(Night, night)
        if recorded is None:
            return [
                f"night {night} is not registered: its code version and configuration are unknown"
            ]
        was_code, was_config = recorded.code_version, recorded.config_hash
    warnings = []
    if was_code != code_version():
        warnings.append(f"recorded by code {was_code}, replayed by {code_version()}")
    now_config = config_hash(config)
    if was_config != now_config:
        warnings.append(
            f"recorded with configuration {was_config[:12]}, replayed with {now_config[:12]} "
            "(the process's, before --set)"
        )
    return warnings


def replay_and_compare(
    source: Engine,
    night: str,
    config: SiteConfig,
    out_dir: Path,
    *,
    overrides: Sequence[str] = (),
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    progress: Callable[[float, float], None] | None = None,
) -> ReplayOutcome:
    """Replay night ``night`` recorded in ``source`` into ``out_dir/replay.db`` and compare.

    Parameters
    ----------
    source : Engine
        The recorded night's database (only read).
    night : str
        Night label.
    config : SiteConfig
        The configuration to replay with, before ``overrides``.
    out_dir : Path
        Where the replay's database and its report (``report.md``) go.
    overrides : sequence of str
        What-if ``key=value`` assignments (validated: ConfigError otherwise).
    tolerance_s : float
        Time tolerance of "identical" (simulated s).
    progress : callable, optional
        ``progress(simulated_s_done, simulated_s_total)`` as the replay runs (a command's bar).

    Raises
    ------
    ReplayError
        Nothing journaled for the night, or the replay's database would be the source.
    ConfigError
        A bad ``--set``.
    """
    started = time.perf_counter()
    changed = apply_overrides(config, overrides)
    inputs = load_inputs(source, night, config.site.longitude_deg)
    if not inputs.items:
        raise ReplayError(f"night {night}: nothing journaled to replay")
    inputs.warnings[:0] = provenance_warnings(source, night, config)
    url = _fresh_sqlite(out_dir)
    if url == source.url.render_as_string(hide_password=False):
        raise ReplayError(f"the replay's database {url} is the recorded night's")
    target = create_pyros_engine(url)
    try:
        with replay_environment():
            run = replay_night(inputs, changed, target, progress=progress)
        longitude = config.site.longitude_deg
        recorded = night_decisions(source, night, longitude, until=run.end)
        replayed = night_decisions(target, night, longitude, until=run.end)
    finally:
        target.dispose()
    comparison = compare(recorded, replayed, tolerance_s)
    report = report_markdown(night, comparison, run.warnings, list(overrides))
    report_path = out_dir / "report.md"
    write_atomic(report_path, report.encode("utf-8"))
    wall_s = time.perf_counter() - started
    return ReplayOutcome(run, comparison, report, report_path, url, wall_s)
