"""Device health as the night sees it (#24): ok, degraded or lost, with the reason."""

from __future__ import annotations

from datetime import UTC, datetime

from devices.controllers.base import HealthReport
from tasks.night.device_health import (
    DeviceCondition,
    DeviceHealth,
    DeviceRole,
    classify,
    hold_change,
    lost_instruments,
    night_blocker,
    waits_for,
)

LOST_AT = datetime(2026, 11, 25, 4, 14, 5, tzinfo=UTC)
CAM, MOUNT, DOME = DeviceRole.CAMERA, DeviceRole.MOUNT, DeviceRole.DOME
OK, DEGRADED, LOST = DeviceCondition.OK, DeviceCondition.DEGRADED, DeviceCondition.LOST


def report(connected: bool = True, **fields) -> HealthReport:
    values = {
        "device": "camera_vis",
        "connected": connected,
        "state": "up" if connected else "down",
        "since": "2026-11-25T04:14:05Z",
        "last_reply_at": "2026-11-25T04:20:00Z",
        "last_reply_age_s": 0.1,
        "last_error": "",
        "last_error_at": None,
    }
    values.update(fields)
    return HealthReport(**values)


def test_a_device_is_classified_from_its_gateways_report():
    ok = classify("camera_vis", CAM, report(), instrument="Visible camera")
    assert (ok.condition, ok.name) == (OK, "Visible camera")
    lost = classify("camera_vis", CAM, report(False, last_error="connection refused"))
    assert (lost.condition, lost.reason, lost.since) == (LOST, "connection refused", LOST_AT)
    # An error after the last reply: degraded; a reply after the error: ok again.
    late = report(last_error="timeout", last_error_at="2026-11-25T04:21:00Z")
    assert classify("camera_vis", CAM, late).condition is DEGRADED
    answered = report(last_error="timeout", last_error_at="2026-11-25T04:19:00Z")
    assert classify("camera_vis", CAM, answered).condition is OK
    unreachable = classify("mount", MOUNT, None, problem="connection refused")
    assert unreachable.condition is LOST and "gateway unreachable" in unreachable.reason
    faulted = classify("mount", MOUNT, report(), fault="mount reports a fault")
    assert (faulted.condition, faulted.reason) == (LOST, "mount reports a fault")


def test_a_sequence_waits_for_the_lost_camera_it_needs_with_the_reason():
    health = [
        DeviceHealth("camera_vis", CAM, LOST, "connection refused", LOST_AT, "Visible camera"),
        DeviceHealth("camera_nir", CAM, OK, instrument="Infrared camera"),
    ]
    lost = lost_instruments(health)
    assert list(lost) == ["Visible camera"]
    assert waits_for({"Visible camera", "Infrared camera"}, lost) == (
        "waits for Visible camera: lost since 04:14:05 UTC (connection refused)"
    )
    assert waits_for({"Infrared camera"}, lost) == ""


def test_only_a_lost_mount_or_dome_or_every_camera_holds_the_night():
    vis = DeviceHealth("camera_vis", CAM, LOST, "refused", instrument="Visible camera")
    nir = DeviceHealth("camera_nir", CAM, OK, instrument="Infrared camera")
    mount = DeviceHealth("mount", MOUNT, OK)
    assert night_blocker([mount, vis, nir]) is None
    nir_lost = DeviceHealth("camera_nir", CAM, LOST, "silent", instrument="Infrared camera")
    assert night_blocker([mount, vis, nir_lost]) == nir_lost
    mount_lost = DeviceHealth("mount", MOUNT, LOST, "fault")
    assert night_blocker([mount_lost, vis, nir]) == mount_lost
    dome_lost = DeviceHealth("dome", DOME, LOST, "refused")
    assert night_blocker([mount, dome_lost, nir]) == dome_lost
    assert night_blocker([DeviceHealth("mount", MOUNT, DEGRADED, "timeout")]) is None


def test_the_hold_changes_only_when_the_device_waited_for_changes():
    assert hold_change(None, None, "sequence 3 is due") is None
    assert hold_change(None, "mount", "the night waits for mount") == (
        True,
        {"device": "mount", "reason": "the night waits for mount"},
    )
    assert hold_change("mount", "mount", "the night waits for mount") is None
    ended = hold_change("mount", None, "sequence 3 is due")
    assert ended is not None and ended[0] is False and ended[1]["device"] == "mount"
