"""What the scenario sends outside the simulators: requests (as a user) and VOEvents (as the alert
network). Both are separate programs run as subprocesses, exactly as a person or a mission would:

- a request file is submitted with ``pyros request submit FILE --json`` (the simulators never
  import ``tasks/``), under the simulators' clock (``PYROS_CLOCK``) so the submission time is the
  simulated instant;
- a VOEvent is sent with Comet's ``comet-sendvo`` to the broker ``[simulators]
  alert_broker_host:alert_broker_port``, by default the stack's own Comet broker
  (``[alert_intake.comet] receive_port``), whose subscriber is the alert listener
  (:func:`scenario_broker`).
  ``pyros alert send`` and the ``fake-alert`` deployment send the same way to the stack's broker
  (:func:`send_to_stack`).

Each returns a :class:`SubmissionResult` (never raises for a failure of the other program).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.clock import Clock
from infra.config import SiteConfig

#: Wall seconds ``pyros alert send`` and the ``fake-alert`` deployment give the broker.
STACK_SEND_TIMEOUT_S = 15.0


@dataclass
class SubmissionResult:
    """What happened to one submission."""

    ok: bool
    detail: str
    result: dict[str, Any] = field(default_factory=dict)


def _tail(text: str, lines: int = 1) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(kept[-lines:])


def clock_env(clock: Clock) -> dict[str, str]:
    """The environment that gives a child process the same clock."""
    env = dict(os.environ)
    spec = getattr(clock, "spec", None)
    if callable(spec):
        env["PYROS_CLOCK"] = spec()
    return env


def submit_request(
    file: Path, *, user: str | None, clock: Clock, timeout_s: float
) -> SubmissionResult:
    """Submit a request file with ``pyros request submit FILE --json``.

    Returns
    -------
    SubmissionResult
        ``result`` is the command's JSON (``request_id``, ``sequence_ids``...) when it stored the
        request; ``detail`` is its one-line error otherwise.
    """
    # --again: a scenario item is a new submission, even of a file it sent before (the seed's
    # scenarios re-send the same files), so the duplicate check must not refuse it.
    argv = [
        sys.executable, "-m", "app.cli.main", "request", "submit", str(file), "--json", "--again"
    ]  # fmt: skip
    if user:
        argv += ["--user", user]
    try:
        done = subprocess.run(
            argv,
            env=clock_env(clock),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return SubmissionResult(
            False, f"pyros request submit {file.name}: no answer within {timeout_s:g} s"
        )
    except OSError as exc:
        return SubmissionResult(False, f"pyros request submit {file.name}: cannot run: {exc}")
    result: dict[str, Any] = {}
    for line in reversed(done.stdout.strip().splitlines()):
        try:
            result = json.loads(line)
            break
        except json.JSONDecodeError:
            continue
    if done.returncode == 0 and result.get("ok"):
        return SubmissionResult(
            True, f"request {result.get('request_id')} stored from {file.name}", result
        )
    error = result.get("error") or _tail(done.stderr) or f"exit code {done.returncode}"
    return SubmissionResult(False, f"pyros request submit {file.name}: {error}", result)


def sendvo_program() -> str | None:
    """Comet's ``comet-sendvo`` (beside this Python first, then on the PATH)."""
    beside = Path(sys.executable).with_name("comet-sendvo")
    if beside.exists():
        return str(beside)
    return shutil.which("comet-sendvo")


def send_voevent(file: Path, *, host: str, port: int, timeout_s: float) -> SubmissionResult:
    """Send a VOEvent file to a VOEvent broker with ``comet-sendvo``.

    Returns
    -------
    SubmissionResult
        ok when the broker acknowledged it; otherwise the reason (no broker answering, the broker
        refused the packet, comet-sendvo missing or timing out).
    """
    program = sendvo_program()
    if program is None:
        return SubmissionResult(False, "comet-sendvo not found: install Comet (pip install comet)")
    argv = [program, "--host", host, "--port", str(port), "-f", str(file)]
    where = f"{host}:{port}"
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return SubmissionResult(
            False,
            f"VOEvent {file.name}: the broker at {where} did not answer within {timeout_s:g} s",
        )
    except OSError as exc:
        return SubmissionResult(False, f"VOEvent {file.name}: cannot run comet-sendvo: {exc}")
    output = done.stdout + done.stderr
    if done.returncode == 0 and "sent successfully" in output:
        return SubmissionResult(True, f"VOEvent {file.name} acknowledged by the broker at {where}")
    if "Connection failed" in output or "Connection refused" in output:
        return SubmissionResult(False, f"VOEvent {file.name}: no VOEvent broker answers at {where}")
    return SubmissionResult(
        False,
        f"VOEvent {file.name}: the broker at {where} did not take it "
        f"(comet-sendvo exit {done.returncode}: {_tail(output)})",
    )


def scenario_broker(config: SiteConfig) -> tuple[str, int]:
    """Where the scenario's VOEvents go: ``[simulators] alert_broker_host`` and
    ``alert_broker_port``, the port by default the stack's Comet broker (``[alert_intake.comet]
    receive_port``, the one ``pyros up`` starts and the alert listener subscribes to)."""
    sims = config.simulators
    return sims.alert_broker_host, sims.alert_broker_port or config.alert_intake.comet.receive_port


def send_to_stack(
    file: Path, config: SiteConfig, timeout_s: float = STACK_SEND_TIMEOUT_S
) -> SubmissionResult:
    """Send a VOEvent file to the stack's Comet broker (``127.0.0.1:[alert_intake.comet]
    receive_port``) with ``comet-sendvo``: what ``pyros alert send`` and the ``fake-alert``
    deployment do. ``detail`` names the broker either way."""
    return send_voevent(
        file, host="127.0.0.1", port=config.alert_intake.comet.receive_port, timeout_s=timeout_s
    )
