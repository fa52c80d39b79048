"""Operator deployments: forms in the Prefect UI that act on the observatory."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from infra.clock import get_clock
from infra.db import session_scope
from infra.opmode import OperatingMode, get_operating_mode, set_operating_mode
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
