"""Device health as the night sees it (#24): each device ok, degraded or lost, with the reason.

Pure: the gateways' health reports (``HEALTH``) are classified here, and the night policy and the
scheduler read the result. A lost camera only takes its own albums out of the night (the
sequences that need it wait, named with the reason); a lost mount or dome holds the whole night.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from devices.controllers.base import HealthReport
from infra.clock import parse_instant

__all__ = [
    "DeviceCondition",
    "DeviceHealth",
    "DeviceRole",
    "classify",
    "hold_change",
    "lost_instruments",
    "night_blocker",
    "waits_for",
]


class DeviceCondition(StrEnum):
    """How usable a device is."""

    OK = "ok"
    DEGRADED = "degraded"  # connected, but its last request failed (a timeout, an error)
    LOST = "lost"  # not connected, or its gateway does not answer


class DeviceRole(StrEnum):
    """What a device is to the night."""

    MOUNT = "mount"
    CAMERA = "camera"
    DOME = "dome"


@dataclass(frozen=True)
class DeviceHealth:
    """One device's condition with its reason (``since``: when it became so, if known)."""

    device: str
    role: DeviceRole
    condition: DeviceCondition
    reason: str = ""
    since: datetime | None = None
    #: The instrument name of a camera (what albums name).
    instrument: str | None = None
    #: Who holds the device's lease and at what priority (``""``: nobody, or not known).
    lease_holder: str = ""
    #: The device's own state as it reported it (the mount's motion and position, a camera's
    #: activity and filter, the dome's shutter); ``""`` when it did not answer.
    state: str = ""

    @property
    def name(self) -> str:
        """The name the night uses: the instrument's for a camera, else the device's."""
        return self.instrument or self.device

    def describe(self) -> str:
        """``<name>: lost since HH:MM:SS UTC (reason)``."""
        text = f"{self.name}: {self.condition.value}"
        if self.since is not None:
            text += f" since {self.since:%H:%M:%S} UTC"
        return f"{text} ({self.reason})" if self.reason else text


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError:
        return None


def classify(
    device: str,
    role: DeviceRole,
    report: HealthReport | None,
    *,
    problem: str = "",
    fault: str = "",
    instrument: str | None = None,
) -> DeviceHealth:
    """A device's condition from its gateway's health report.

    Parameters
    ----------
    device : str
        Device name.
    role : DeviceRole
        Mount, camera or dome.
    report : HealthReport or None
        The gateway's report; None when the gateway itself did not answer (``problem`` says why).
    problem : str
        Why there is no report.
    fault : str
        The device answers but reports a hardware fault (its ``STATUS`` state): counted as lost.
    instrument : str, optional
        A camera's instrument name.

    Returns
    -------
    DeviceHealth
        Lost when the gateway does not answer or is not connected to its device; degraded when
        connected but the last thing that happened was an error; ok otherwise.
    """
    if report is None:
        reason = f"gateway unreachable: {problem}" if problem else "gateway unreachable"
        return DeviceHealth(device, role, DeviceCondition.LOST, reason, instrument=instrument)
    if fault:
        at = _instant(report.last_error_at)
        return DeviceHealth(device, role, DeviceCondition.LOST, fault, at, instrument)
    if not report.connected:
        return DeviceHealth(
            device,
            role,
            DeviceCondition.LOST,
            report.last_error or "not connected",
            _instant(report.since),
            instrument,
        )
    error_at, reply_at = _instant(report.last_error_at), _instant(report.last_reply_at)
    since = _instant(report.since)
    # Degraded: an error since the link came up, and no reply after it.
    if (
        error_at is not None
        and (since is None or error_at >= since)
        and (reply_at is None or error_at > reply_at)
    ):
        return DeviceHealth(
            device, role, DeviceCondition.DEGRADED, report.last_error, error_at, instrument
        )
    return DeviceHealth(device, role, DeviceCondition.OK, "", since, instrument)


def lost_instruments(health: Iterable[DeviceHealth]) -> dict[str, str]:
    """Lost cameras by instrument name, each with ``"<instrument>: lost since T (reason)"``."""
    return {
        h.name: h.describe()
        for h in health
        if h.role is DeviceRole.CAMERA and h.condition is DeviceCondition.LOST
    }


def waits_for(needed: Iterable[str], lost: Mapping[str, str]) -> str:
    """Why a sequence needing the instruments ``needed`` waits (``""`` when none is lost):
    ``"waits for Visible camera: lost since 22:14:05 UTC (connection refused)"``."""
    missing = [lost[name] for name in sorted(set(needed)) if name in lost]
    return "waits for " + "; ".join(missing) if missing else ""


def night_blocker(health: Iterable[DeviceHealth]) -> DeviceHealth | None:
    """The lost device that holds the whole night (the mount, then the dome, then the last
    camera when every camera is lost), or None: the night goes on with what works."""
    devices = list(health)
    for role in (DeviceRole.MOUNT, DeviceRole.DOME):
        for h in devices:
            if h.role is role and h.condition is DeviceCondition.LOST:
                return h
    cameras = [h for h in devices if h.role is DeviceRole.CAMERA]
    if cameras and all(h.condition is DeviceCondition.LOST for h in cameras):
        return cameras[-1]
    return None


def hold_change(
    held: str | None, device: str | None, reason: str
) -> tuple[bool, dict[str, str]] | None:
    """Whether the night's hold for a lost device changed between two decisions.

    Parameters
    ----------
    held : str or None
        The device the previous decision waited for.
    device : str or None
        The device this decision waits for (``NightDecision.device``).
    reason : str
        This decision's reason.

    Returns
    -------
    tuple or None
        ``(True, payload)`` when a hold starts (or moves to another device), ``(False, payload)``
        when it ends, None when nothing changed.
    """
    if device == held:
        return None
    if device is not None:
        return True, {"device": device, "reason": reason}
    assert held is not None
    return False, {"device": held, "reason": f"{held} is back: {reason}"}
