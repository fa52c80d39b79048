"""Operator deployments: forms in the Prefect UI that act on the observatory."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from infra.clock import get_clock
from infra.config import get_config
from infra.db import session_scope
from infra.opmode import OperatingMode, get_operating_mode, set_operating_mode
from simulators.outside import send_to_stack
from tasks.alerts.drill import drill_notice
from tasks.environment.observatory_state import add_override
from tasks.requests.prefect_tasks import (
    cancel_request_task,
    ingest_request_task,
    request_images_task,
    try_publish_request,
)
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
    try_publish_request(result["request_id"])
    return result


@flow(name="cancel-request", log_prints=False)
def cancel_request_flow(request_id: int, reason: str = "", user: str = "pyros") -> dict[str, Any]:
    """Cancel a request on behalf of ``user``: its sequences not yet executed become cancelled
    (one executing now stops at the end of its current exposure; images taken are kept), then
    tonight is re-planned so they leave the schedule, and the request artifact is updated.

    A refusal (unknown or inactive user, an observer cancelling another user's request, no such
    request, already cancelled, nothing left to cancel) fails the run with the reason.
    """
    result = cancel_request_task(request_id, user, reason)
    logger = get_run_logger()
    logger.info(
        "request %s cancelled: %d sequence(s) cancelled, %d executing",
        request_id,
        len(result["cancelled"]),
        len(result["executing"]),
    )
    if result["cancelled"]:
        plan = plan_night_task(reason=f"request {request_id} cancelled")
        result["schedule_id"] = plan["schedule_id"]
    result["artifact"] = try_publish_request(request_id)
    return result


@flow(name="request-images", log_prints=False)
def request_images_flow(request_id: int) -> list[dict[str, Any]]:
    """List a request's images (id, time, camera, filter, exposure, file, calibrated file, NRT
    quality) and update its artifact (``request-<id>``: state, sequences, images)."""
    images = request_images_task(request_id)
    try_publish_request(request_id)
    get_run_logger().info("request %s: %d image(s)", request_id, len(images))
    return images


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


@flow(name="fake-alert", log_prints=False)
def fake_alert() -> dict[str, Any]:
    """A drill: the bundled Swift BAT position notice, moved to a position observable now and
    issued now, is sent to the stack's Comet broker as `pyros alert send` sends it; the alert
    listener then decides on it (`pyros alert list`, road ``comet``). In daytime nothing is
    observable: the notice goes to the highest position and is scheduled for the next night.
    A broker that does not take it fails the run with the reason."""
    config = get_config()
    notice = drill_notice(config, get_clock().now())
    with tempfile.TemporaryDirectory(prefix="pyros-fake-alert-") as folder:
        file = Path(folder) / "fake-alert.xml"
        file.write_bytes(notice.raw)
        result = send_to_stack(file, config)
    if not result.ok:
        raise RuntimeError(result.detail)
    get_run_logger().info(
        "%s sent: RA %.4f Dec %+.4f, altitude %.1f deg (%s); %s",
        notice.ivorn,
        notice.ra_deg,
        notice.dec_deg,
        notice.altitude_deg,
        notice.reason,
        result.detail,
    )
    return {
        "ivorn": notice.ivorn,
        "ra_deg": notice.ra_deg,
        "dec_deg": notice.dec_deg,
        "observable": notice.observable,
        "sent": result.detail,
    }


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
