"""Flows the automations run (docs/events.md, app/automations.py): tell the operator, ask the
supervisor to restart a watcher. Operators may run them too.

Light on purpose: each automation's action starts a new process for its run, and the operator
must hear of a silent watcher within seconds, so this module imports only Prefect and ``infra``.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from infra.journal import KIND_NOTICE, record
from infra.settings import load_settings
from infra.supervisorctl import SupervisorUnavailable, call

#: Log level of each notice severity (an unknown severity is a warning).
SEVERITY_LEVELS = {
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "emergency": logging.CRITICAL,
}


@flow(name="operator-notice", log_prints=False)
def operator_notice(
    subject: str, message: str, source: str = "automation", severity: str = "warning"
) -> str:
    """Tell the operator: the notice is journaled (kind ``notice``), logged at ``severity``
    (``info``, ``warning``, ``error``, ``emergency``: critical) and
    shown as the ``operator-notices`` artifact. Automations run it (docs/events.md)."""
    text = f"{subject}: {message}"
    record(KIND_NOTICE, source, {"subject": subject, "message": message, "severity": severity})
    get_run_logger().log(SEVERITY_LEVELS.get(severity.lower(), logging.WARNING), "%s", text)
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
