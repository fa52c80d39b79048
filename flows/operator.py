"""Operator deployments: forms in the Prefect UI that act on the observatory."""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from infra.clock import get_clock
from infra.db import session_scope
from infra.journal import KIND_NOTICE, record
from infra.opmode import OperatingMode, get_operating_mode, set_operating_mode
from infra.settings import load_settings
from infra.supervisorctl import SupervisorUnavailable, call
from tasks.environment.observatory_state import add_override
from tasks.requests.prefect_tasks import ingest_request_task
from tasks.scheduling.prefect_tasks import plan_night_task


@flow(name="submit-request", log_prints=False)
def submit_request(
    xml: str, user: str = "pyros", source: str = "prefect-ui", again: bool = False
) -> dict[str, Any]:
    """Submit an observation request (the XML text, as in a request file).

    A refused request fails the run with the reason (file, line, field); nothing is stored.
    The same content already submitted by the same user is refused unless ``again``.
    """
    result = ingest_request_task(xml, source, user, again)
    get_run_logger().info(
        "request %s stored: %d sequence(s)", result["request_id"], result["sequences"]
    )
    return result


@flow(name="fake-alarm", log_prints=False)
def fake_alarm(minutes: float = 5.0, by: str = "operator") -> str:
    """A drill: the environment monitor sees an unsafe condition for ``minutes`` (simulated) and
    acts on it (closes the dome, parks the mount, emits ``pyros.weather.unsafe``)."""
    with session_scope() as session:
        override = add_override(
            session, "*", minutes * 60.0, by, "fake alarm (drill)", get_clock().now()
        )
    get_run_logger().info("%s", override.describe())
    return override.describe()


@flow(name="mode", log_prints=False)
def set_mode(mode: str = OperatingMode.AUTO.value, by: str = "operator") -> str:
    """AUTO: the night runs itself. MANUAL: nothing automatic moves the telescope (alerts are
    recorded and shown, not slewed to); safety still acts."""
    with session_scope() as session:
        set_operating_mode(session, mode, by)
        current = get_operating_mode(session).value
    get_run_logger().info("operating mode: %s (set by %s)", current, by)
    return current


@flow(name="replan-now", log_prints=False)
def replan_now(reason: str = "operator request") -> dict[str, Any]:
    """Re-plan the rest of tonight now (the schedule artifact shows the result)."""
    return plan_night_task(reason=reason)


@flow(name="operator-notice", log_prints=False)
def operator_notice(
    subject: str, message: str, source: str = "automation", severity: str = "warning"
) -> str:
    """Tell the operator: the notice is journaled (kind ``notice``), logged at ``severity`` and
    shown as the ``operator-notices`` artifact. Automations run it (docs/events.md)."""
    text = f"{subject}: {message}"
    record(KIND_NOTICE, source, {"subject": subject, "message": message, "severity": severity})
    level = severity.upper() if severity.upper() in ("INFO", "WARNING", "ERROR") else "WARNING"
    get_run_logger().log(getattr(logging, level), "%s", text)
    create_markdown_artifact(
        f"**{subject}** ({severity}, from {source})\n\n{message}",
        key="operator-notices",
        description=subject,
    )
    return text


@flow(name="restart-watcher", log_prints=False)
def restart_watcher(name: str, reason: str = "operator request") -> dict[str, Any]:
    """Ask the supervisor of this stack to restart the watcher ``name`` (its process name:
    ``environment-monitor``, ``alert-listener``). The request is journaled first; a restart the
    supervisor refuses (unknown name, held process, no stack) fails the run with its answer."""
    logger = get_run_logger()
    record(KIND_NOTICE, "restart-watcher", {"watcher": name, "reason": reason, "step": "asked"})
    try:
        answer = call(load_settings().run_dir, "restart", name=name)
    except SupervisorUnavailable as exc:
        answer = {"ok": False, "error": str(exc)}
    record(KIND_NOTICE, "restart-watcher", {"watcher": name, "step": "answered", **answer})
    if not answer.get("ok"):
        raise RuntimeError(f"restart of {name} refused: {answer.get('error')}")
    logger.warning("%s restarted by the supervisor (%s)", name, reason)
    return answer
