"""The run file of a running stack: how a command finds the stack of its ``PYROS_HOME``.

``pyros up`` writes ``<PYROS_HOME>/run/stack.json`` (mode 0600: it may hold a database password)
before it starts the supervisor, which holds ``run/supervisor.lock`` for as long as it lives. The
file holds the processes, what to tell the operator (``info``), when the stack was started and
the values its processes run with for :data:`STACK_VARIABLES` (``environment``).

A command run from the same ``PYROS_HOME`` while that supervisor lives takes each of these
variables from the stack unless it is set in its own environment (:func:`adopt_stack_environment`):
the clock of a simulated night, the Prefect API its events go to, the mode label, the derived site
file and the database. With no live supervisor the file is stale and ignored: defaults apply.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.oslock import holder_pid
from infra.settings import load_settings

RUN_FILE = "stack.json"
SUPERVISOR_LOCK = "supervisor.lock"

#: What a command takes from the running stack of its home when not set explicitly.
STACK_VARIABLES = (
    "PYROS_CLOCK",
    "PYROS_MODE",
    "PYROS_SITE_CONFIG",
    "PYROS_DATABASE_URL",
    "PREFECT_API_URL",
)


@dataclass(frozen=True)
class RunningStack:
    """A stack whose supervisor lives.

    Attributes
    ----------
    home : Path
        Its ``PYROS_HOME``.
    supervisor_pid : int
        Pid of its supervisor.
    started_at : str or None
        When ``pyros up`` started it (ISO 8601 UTC), if recorded.
    environment : dict
        Its values of :data:`STACK_VARIABLES` (only those it sets).
    info : dict
        What ``pyros up`` tells the operator (Prefect UI and API...).
    """

    home: Path
    supervisor_pid: int
    started_at: str | None
    environment: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def stack_environment(environments: list[Mapping[str, str]]) -> dict[str, str]:
    """The values of :data:`STACK_VARIABLES` set in the processes' environments (the first
    process setting a variable gives its value)."""
    found: dict[str, str] = {}
    for environment in environments:
        for name in STACK_VARIABLES:
            if environment.get(name) and name not in found:
                found[name] = environment[name]
    return found


def write_run_file(run_dir: Path, content: Mapping[str, Any]) -> Path:
    """Write ``content`` as the run file of ``run_dir`` (mode 0600, replaced atomically)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RUN_FILE
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(dict(content), handle, indent=2)
    temporary.replace(path)
    return path


def running_stack(run_dir: Path) -> RunningStack | None:
    """The stack of ``run_dir`` if its supervisor lives and its run file is readable, else None."""
    run_dir = Path(run_dir)
    pid = holder_pid(run_dir / SUPERVISOR_LOCK)
    if pid is None:
        return None
    try:
        content = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        content = {}
    if not isinstance(content, dict):
        content = {}
    environment = content.get("environment") or {}
    return RunningStack(
        home=run_dir.parent,
        supervisor_pid=pid,
        started_at=content.get("started_at"),
        environment={
            k: str(v) for k, v in environment.items() if k in STACK_VARIABLES and v is not None
        },
        info=dict(content.get("info") or {}),
    )


def adopt_stack_environment(
    environ: MutableMapping[str, str] | None = None,
) -> tuple[RunningStack | None, list[str]]:
    """Set, in ``environ`` (default: ``os.environ``), each stack variable that is not set there
    to the value of the running stack of its ``PYROS_HOME``; call it before anything reads them.

    Returns
    -------
    tuple
        The running stack (None when there is none) and the names of the variables taken from it.
    """
    env = os.environ if environ is None else environ
    stack = running_stack(load_settings(dict(env)).run_dir)
    if stack is None:
        return None, []
    adopted = [name for name, value in stack.environment.items() if not env.get(name) and value]
    for name in adopted:
        env[name] = stack.environment[name]
    return stack, adopted
