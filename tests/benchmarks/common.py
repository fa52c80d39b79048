"""What benchmarks share: an isolated PyROS home and database, and JSON-line output."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


def percentile_ms(seconds: list[float], q: float) -> float:
    """The ``q``-th percentile of durations given in seconds, in milliseconds (3 decimals)."""
    import numpy as np

    return round(float(np.percentile(np.array(seconds) * 1000.0, q)), 3)


def emit(bench: str, **figures) -> None:
    """Print one JSON line of figures."""
    line = {"bench": bench, **figures}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def machine() -> dict:
    """Where the figures were measured."""
    return {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu",
        "python": platform.python_version(),
        "date": datetime.now(UTC).date().isoformat(),
    }


@contextmanager
def isolated_home() -> Iterator[Path]:
    """A temporary PYROS_HOME (SQLite database inside), removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="pyros-bench-"))
    saved = {k: os.environ.get(k) for k in ("PYROS_HOME", "PYROS_DATABASE_URL", "PREFECT_API_URL")}
    os.environ["PYROS_HOME"] = str(home)
    os.environ.pop("PYROS_DATABASE_URL", None)
    os.environ.pop("PREFECT_API_URL", None)
    try:
        yield home
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(home, ignore_errors=True)


def failed_runs(home: Path) -> list[dict]:
    """Why each failed or crashed flow run of a night in ``home`` ended so (its state's message
    and its first error logs), read from the night's own Prefect database: a figure of failed
    runs says which, since the home is removed after the night."""
    import sqlite3

    failed = (
        "select fr.id, f.name, fr.name, fr.state_type, s.message from flow_run fr"
        " join flow f on f.id = fr.flow_id join flow_run_state s on s.id = fr.state_id"
        " where fr.state_type in ('FAILED', 'CRASHED')"
    )
    errors = "select message from log where flow_run_id = ? and level >= 40 order by timestamp"
    with sqlite3.connect(home / "prefect" / "prefect.db") as db:
        return [
            {
                "flow": flow,
                "run": run,
                "state": state,
                "message": message,
                "errors": [row[0][-1500:] for row in db.execute(errors, (run_id,))][:3],
            }
            for run_id, flow, run, state, message in db.execute(failed).fetchall()
        ]
