"""Manual control: operator deployments that move the telescope, switch the PLC, ask the monitor
for the dome, and pause or resume the night (issue 21; docs/manual-control.md).

Each device action takes its device's lease at operator priority and releases it after. A
refusal — safety or an alert holds the device (the message names the holder), the horizon
check, an unknown filter or switch — **fails the run with the reason**, as the other operator
deployments do; every outcome is journaled (kind ``operator``) with ``user`` and ``reason``.

The flows' docstrings use Google's ``Args:`` section on purpose: it is what Prefect parses into
the parameter descriptions of the deployment forms (the house's NumPy style is not parsed).
Bounds (``Field(ge=..., le=...)``) become the forms' limits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from prefect import flow, get_run_logger
from pydantic import Field

from devices.controllers import connect_camera, connect_flat_lamp, connect_mount, connect_plc
from devices.controllers.base import GatewayController
from flows.operator import cancel_request_flow
from infra.clock import get_clock
from infra.config import get_config
from infra.db import session_scope
from infra.journal import night_label
from infra.settings import load_settings
from tasks.control.followup import followed_request
from tasks.control.lease import DONE, ManualResult, Operator, journal_action
from tasks.control.manual import (
    MAX_MANUAL_FRAMES,
    ExposureSpec,
    calibration_lamp,
    expose,
    goto,
    manual_frames_dir,
    park,
    switch,
)
from tasks.control.night import ask_dome, set_night_paused
from tasks.control.sequence import cancel_sequence
from tasks.scheduling.prefect_tasks import plan_night_task

C = TypeVar("C", bound=GatewayController)

Reason = Annotated[str, Field(min_length=1)]
OPERATOR = "operator"


def _with(connect: Callable[[], C], act: Callable[[C], ManualResult]) -> dict[str, Any]:
    """Connect to a device's gateway, act, disconnect; log and return the result."""
    controller = connect()
    try:
        result = act(controller)
    finally:
        controller.disconnect()
    get_run_logger().info("%s (%s: %s)", result.message, result.user, result.reason)
    return result.as_dict()


@flow(name="park", log_prints=False)
def park_flow(reason: Reason, user: str = OPERATOR) -> dict[str, Any]:
    """Park the mount (tracking stops) at operator priority, and wait until it is parked.

    Args:
        reason: Why (required; journaled with the action).
        user: Who asks (journaled as the source of the action).
    """
    return _with(connect_mount, lambda mount: park(mount, Operator(user, reason)))


@flow(name="goto", log_prints=False)
def goto_flow(
    ra_deg: float,
    dec_deg: Annotated[float, Field(ge=-90, le=90)],
    reason: Reason,
    user: str = OPERATOR,
) -> dict[str, Any]:
    """Slew the mount to RA/Dec and track, at operator priority; waits until the slew ends.
    A target below the horizon limit now is refused with the mount controller's message.

    Args:
        ra_deg: Right ascension, ICRS, degrees (taken modulo 360).
        dec_deg: Declination, ICRS, degrees (-90 to 90).
        reason: Why (required; journaled with the action).
        user: Who asks (journaled as the source of the action).
    """
    who = Operator(user, reason)
    return _with(connect_mount, lambda mount: goto(mount, who, ra_deg, dec_deg))


@flow(name="manual-exposure", log_prints=False)
def manual_exposure_flow(
    camera: str,
    exposure_s: Annotated[float, Field(ge=0)],
    reason: Reason,
    filter_name: str = "",
    count: Annotated[int, Field(ge=1, le=MAX_MANUAL_FRAMES)] = 1,
    image_type: Literal["light", "dark", "bias", "flat"] = "light",
    user: str = OPERATOR,
) -> dict[str, Any]:
    """Take frames with a camera at operator priority. Each frame is written atomically under
    ``<frames>/<night>/manual/``; the files and their SHA-256 are journaled (no image rows: a
    manual frame belongs to no request).

    Args:
        camera: Instrument name ("Visible camera", "Infrared camera") or its device.
        exposure_s: Exposure time of each frame, seconds.
        reason: Why (required; journaled with the action).
        filter_name: A filter of the camera's wheel; empty keeps the filter in place.
        count: Number of frames (1 to 100).
        image_type: Frame type (light, dark, bias, flat).
        user: Who asks (journaled as the source of the action).
    """
    who = Operator(user, reason)
    spec = ExposureSpec(exposure_s, count, filter_name, image_type)
    clock, config = get_clock(), get_config()
    night = night_label(clock.now(), config.site.longitude_deg)
    directory = manual_frames_dir(load_settings().frames_dir, night)
    return _with(
        lambda: connect_camera(camera, config, clock=clock),
        lambda cam: expose(cam, who, spec, directory),
    )


def _switch(name: str, on: bool, user: str, reason: str) -> dict[str, Any]:
    who = Operator(user, reason)
    return _with(connect_plc, lambda plc: switch(plc, who, name, on))


@flow(name="lights", log_prints=False)
def lights_flow(on: bool, reason: Reason, user: str = OPERATOR) -> dict[str, Any]:
    """The dome lights on or off, through the PLC at operator priority.

    Args:
        on: True switches the lights on, false off.
        reason: Why (required; journaled with the action).
        user: Who asks (journaled as the source of the action).
    """
    return _switch("lights", on, user, reason)


@flow(name="calibration-lamp", log_prints=False)
def calibration_lamp_flow(on: bool, reason: Reason, user: str = OPERATOR) -> dict[str, Any]:
    """The flat-field calibration lamp on or off at operator priority: the light panel of
    ``[devices.lamp]`` when configured, else the PLC's switch.

    Args:
        on: True switches the lamp on, false off.
        reason: Why (required; journaled with the action).
        user: Who asks (journaled as the source of the action).
    """
    who = Operator(user, reason)
    return _with(connect_flat_lamp, lambda lamp: calibration_lamp(lamp, who, on))


@flow(name="power", log_prints=False)
def power_flow(
    outlet: Annotated[int, Field(ge=1, le=8)],
    on: bool,
    reason: Reason,
    user: str = OPERATOR,
) -> dict[str, Any]:
    """A PLC power outlet on or off, at operator priority.

    Args:
        outlet: The outlet's number (1 to 8).
        on: True powers the outlet, false cuts it.
        reason: Why (required; journaled with the action).
        user: Who asks (journaled as the source of the action).
    """
    return _switch(f"outlet_{outlet}", on, user, reason)


@flow(name="dome", log_prints=False)
def dome_flow(
    request: Literal["open", "close"], reason: Reason, user: str = OPERATOR
) -> dict[str, Any]:
    """Ask the environment monitor, the dome's one authority, to open or close the dome (as
    ``pyros dome open/close``): it opens only when every element is good for its hold time.

    Args:
        request: open or close.
        reason: Why (required; journaled with the request).
        user: Who asks (journaled as the source of the request).
    """
    who = Operator(user, reason)
    with session_scope() as session:
        result = ask_dome(session, who, request, get_clock().now())
    get_run_logger().info("%s (%s: %s)", result.message, user, reason)
    return result.as_dict()


def _pause(paused: bool, user: str, reason: str) -> dict[str, Any]:
    who = Operator(user, reason)
    with session_scope() as session:
        result = set_night_paused(session, who, paused, get_clock().now())
    get_run_logger().info("%s (%s: %s)", result.message, user, reason)
    return result.as_dict()


@flow(name="pause-night", log_prints=False)
def pause_night_flow(reason: Reason, user: str = OPERATOR) -> dict[str, Any]:
    """Pause the night (MANUAL mode): nothing automatic moves the telescope; alerts are recorded
    and shown, not slewed to; safety still acts. The sequence executing now runs to its end.

    Args:
        reason: Why (required; journaled).
        user: Who asks (journaled as the source).
    """
    return _pause(True, user, reason)


@flow(name="resume-night", log_prints=False)
def resume_night_flow(reason: Reason, user: str = OPERATOR) -> dict[str, Any]:
    """Resume the night (AUTO mode): its next decision takes the schedule up again.

    Args:
        reason: Why (required; journaled).
        user: Who asks (journaled as the source).
    """
    return _pause(False, user, reason)


@flow(name="cancel-follow-up", log_prints=False)
def cancel_follow_up_flow(burst: str, reason: Reason, user: str = "pyros") -> dict[str, Any]:
    """Cancel a GRB follow-up: the burst's followed request is cancelled as `cancel-request`
    does (sequences not yet executed cancelled, the one executing stops before its next frame,
    images kept; tonight re-planned). A burst not followed fails the run with the reason.

    Args:
        burst: The burst key (as `pyros alert list` shows it) or the IVORN of one of its notices.
        reason: Why (required; journaled and stored on the request).
        user: A PyROS user allowed to cancel the request (an operator or administrator).
    """
    who = Operator(user, reason)
    with session_scope() as session:
        burst_key, request_id = followed_request(session, burst)
    result = cancel_request_flow(
        request_id=request_id, reason=f"follow-up of {burst_key} cancelled: {reason}", user=user
    )
    message = (
        f"follow-up of {burst_key} cancelled (request {request_id}): "
        f"{len(result['cancelled'])} sequence(s) cancelled, {len(result['executing'])} stopping"
    )
    detail = {"burst_key": burst_key, "request_id": request_id}
    journal_action("cancel-follow-up", who, DONE, message, detail)
    get_run_logger().info("%s (%s: %s)", message, user, reason)
    return ManualResult("cancel-follow-up", user, reason, message, detail | result).as_dict()


@flow(name="cancel-sequence", log_prints=False)
def cancel_sequence_flow(sequence_id: int, reason: Reason, user: str = "pyros") -> dict[str, Any]:
    """Cancel one sequence not yet executing (final: no re-plan brings it back), then re-plan
    tonight. An executing sequence is refused with what to do instead (`cancel-request` stops
    it before its next frame).

    Args:
        sequence_id: The sequence (as `pyros schedule` and the schedule artifact show it).
        reason: Why (required; journaled and stored on the sequence's transition).
        user: A PyROS user allowed to cancel it (its owner, an operator or an administrator).
    """
    who = Operator(user, reason)
    result = cancel_sequence(sequence_id, who, get_clock().now())
    plan = plan_night_task(reason=f"sequence {sequence_id} cancelled")
    get_run_logger().info("%s (%s: %s)", result.message, user, reason)
    return result.as_dict() | {"schedule_id": plan["schedule_id"]}
