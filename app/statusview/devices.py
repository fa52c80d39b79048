"""The devices as their gateways see them: one STATUS each, with no lease and a short timeout.

Reads go to every gateway at once (threads), so a silent device costs the timeout once, not
once per device. Parsing a reply is pure (:func:`mount_status`, :func:`camera_status`...).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from app.statusview.model import (
    CameraStatus,
    DeviceLink,
    DomeStatus,
    ExposureProgress,
    MountStatus,
)
from devices.client import NdjsonClient, ReconnectPolicy
from devices.errors import DeviceProblem
from infra.clock import parse_instant

#: A reply item of STATUS, or None with the reason the gateway gave nothing.
Reply = tuple[dict[str, Any] | None, str | None]


def read_status(name: str, address: tuple[str, int], timeout_s: float) -> Reply:
    """Ask one gateway for its device's STATUS (no lease: reads need none)."""
    client = NdjsonClient(
        address[0],
        address[1],
        name=f"status-{name}",
        timeout_s=timeout_s,
        reconnect=ReconnectPolicy(initial_s=timeout_s, max_s=timeout_s),
    )
    try:
        return client.request([{"name": "STATUS"}], timeout=timeout_s)[0], None
    except DeviceProblem as problem:
        return None, f"gateway at {address[0]}:{address[1]} does not answer ({problem.message})"
    finally:
        client.close()


def read_all(addresses: Mapping[str, tuple[str, int]], timeout_s: float) -> dict[str, Reply]:
    """STATUS of every device in ``addresses`` (device name -> gateway address), in parallel."""
    if not addresses:
        return {}
    with ThreadPoolExecutor(max_workers=len(addresses)) as pool:
        futures = {
            name: pool.submit(read_status, name, address, timeout_s)
            for name, address in addresses.items()
        }
        return {name: future.result() for name, future in futures.items()}


def device_link(name: str, reply: Reply) -> DeviceLink:
    """What the gateway said about the device (reachable or why not, lease holder, link)."""
    item, problem = reply
    if item is None:
        return DeviceLink(name, reachable=False, error=problem)
    gateway = item.get("gateway") or {}
    lease = gateway.get("lease") or {}
    holder = f"{lease['owner']} ({lease.get('priority')})" if lease.get("owner") else None
    link = (gateway.get("health") or {}).get("state")
    error = item.get("error")
    if error is not None:
        message = error.get("message") if isinstance(error, dict) else str(error)
        return DeviceLink(name, reachable=False, error=str(message), lease=holder, link=link)
    state = item.get("state")
    return DeviceLink(
        name, reachable=True, state=None if state is None else str(state), lease=holder, link=link
    )


def _number(item: dict[str, Any] | None, key: str) -> float | None:
    value = (item or {}).get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def mount_status(reply: Reply) -> MountStatus:
    """The mount's position and tracking from its STATUS reply."""
    item = reply[0] if reply[0] is not None and "error" not in reply[0] else None
    tracking = (item or {}).get("tracking")
    return MountStatus(
        device_link("mount", reply),
        ra_deg=_number(item, "ra_deg"),
        dec_deg=_number(item, "dec_deg"),
        alt_deg=_number(item, "alt_deg"),
        az_deg=_number(item, "az_deg"),
        tracking=tracking if isinstance(tracking, bool) else None,
    )


def dome_status(reply: Reply) -> DomeStatus:
    """The dome's shutter from its STATUS reply."""
    item = reply[0] if reply[0] is not None and "error" not in reply[0] else None
    return DomeStatus(device_link("dome", reply), open_percent=_number(item, "open_percent"))


def exposure_progress(
    exposure: dict[str, Any] | None, state: str | None, now: datetime
) -> ExposureProgress | None:
    """Elapsed over total of the camera's exposure (None when none runs or it cannot be read).

    Elapsed is ``now - started_at`` on the one clock, within [0, exposure_s]; a camera reading
    out has exposed the whole time.
    """
    if not isinstance(exposure, dict):
        return None
    try:
        started = parse_instant(str(exposure["started_at"]))
        total = float(exposure["exposure_s"])
    except (KeyError, TypeError, ValueError):
        return None
    elapsed = total if state == "reading_out" else (now - started).total_seconds()
    return ExposureProgress(
        frame_id=str(exposure.get("frame_id", "")),
        image_type=str(exposure.get("image_type", "")),
        started_at=started,
        exposure_s=total,
        elapsed_s=round(min(max(elapsed, 0.0), total), 3),
    )


def camera_status(name: str, instrument: str, reply: Reply, now: datetime) -> CameraStatus:
    """A camera's state, filter and exposure progress from its STATUS reply."""
    link = device_link(name, reply)
    item = reply[0] if link.reachable else None
    chosen = (item or {}).get("filter")
    return CameraStatus(
        link,
        instrument,
        filter=None if chosen is None else str(chosen),
        exposure=exposure_progress((item or {}).get("exposure"), link.state, now),
    )
