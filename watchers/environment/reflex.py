"""The safety reflex: the monitor itself closes the dome and parks the mount, through the
gateways, at safety priority (always admitted, preempting whatever moves). It is the dome's only
authority: it holds the dome's lease for as long as it runs, and opens the dome only when asked
and safe. Nothing here waits on the database or Prefect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from devices.controllers import Priority, ShutterState
from devices.controllers.dome import Dome
from devices.controllers.mount import Mount
from devices.errors import DeviceProblem, Preempted

log = logging.getLogger(__name__)

OWNER = "environment-monitor"
CLOSED_OR_CLOSING = frozenset({ShutterState.CLOSED, ShutterState.CLOSING})
OPEN_OR_OPENING = frozenset({ShutterState.OPEN, ShutterState.OPENING})


@dataclass
class ReflexReport:
    """What one reflex call did (for the journal and the operator)."""

    actions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class SafetyReflex:
    """Dome and mount actions of the environment monitor.

    Parameters
    ----------
    dome : Dome
        The dome controller (its lease is claimed at safety priority and kept).
    mount : Mount or None
        The mount controller (claimed at safety priority only while unsafe, to park it).
    """

    def __init__(self, dome: Dome, mount: Mount | None) -> None:
        self.dome = dome
        self.mount = mount
        self._mount_parked_for_safety = False

    def _dome_lease(self) -> None:
        lease = self.dome.lease
        if lease is None or lease.lost:
            self.dome.claim(OWNER, Priority.SAFETY)

    def dome_shutter(self) -> ShutterState | None:
        """The shutter as the dome reports it (None when unreachable)."""
        try:
            return self.dome.status().shutter
        except DeviceProblem as problem:
            log.warning("dome status: %s", problem)
            return None

    def _command_dome(self, command: str, report: ReflexReport) -> None:
        try:
            self._dome_lease()
            (self.dome.close if command == "close" else self.dome.open)()
            report.actions.append(f"dome {command}")
        except Preempted:
            # Another safety holder (a restarted monitor) took over: claim again next poll.
            report.problems.append(f"dome {command}: lease taken over; retrying")
        except DeviceProblem as problem:
            report.problems.append(f"dome {command}: {problem}")

    def make_safe(self, shutter: ShutterState | None) -> ReflexReport:
        """Close the dome (unless closed or closing) and park the mount (once per unsafe spell).

        ``shutter`` is the last known shutter state (None: unknown, so close anyway).
        """
        report = ReflexReport()
        claimed = self._claim_mount(report)
        if shutter not in CLOSED_OR_CLOSING:
            self._command_dome("close", report)
        if claimed:
            self._park(report)
        return report

    def park_mount(self) -> ReflexReport:
        """Park the mount at safety priority, whatever the weather (the dome stuck, #24); once
        until :meth:`all_clear`."""
        report = ReflexReport()
        if self._claim_mount(report):
            self._park(report)
        return report

    def _park(self, report: ReflexReport) -> None:
        mount = self.mount
        if mount is None or self._mount_parked_for_safety:
            return
        try:
            mount.park()
            self._mount_parked_for_safety = True
            report.actions.append("mount park")
        except DeviceProblem as problem:
            report.problems.append(f"mount park: {problem}")

    def _claim_mount(self, report: ReflexReport) -> bool:
        """Take the mount at safety priority before anything else: the claim (milliseconds)
        stops the observation at once — the running sequence sees its lease lost and aborts
        its exposures — while the dome takes seconds to close. (Closing first, a short exposure
        started meanwhile was finished in the closing dome at 100x: issue 27.)"""
        if self.mount is None or self._mount_parked_for_safety:
            return False
        try:
            lease = self.mount.lease
            if lease is None or lease.lost:
                self.mount.claim(OWNER, Priority.SAFETY)
            return True
        except DeviceProblem as problem:
            report.problems.append(f"mount park: {problem}")
            return False

    def all_clear(self) -> None:
        """Safe again: give the mount back (the dome stays ours)."""
        self._mount_parked_for_safety = False
        if self.mount is not None and self.mount.lease is not None:
            self.mount.lease.release()

    def open(self, shutter: ShutterState | None) -> ReflexReport:
        """Open the dome (when safe and requested) unless already open or opening."""
        report = ReflexReport()
        if shutter not in OPEN_OR_OPENING:
            self._command_dome("open", report)
        return report

    def close(self, shutter: ShutterState | None) -> ReflexReport:
        """Close on request (not for safety) unless already closed or closing."""
        report = ReflexReport()
        if shutter not in CLOSED_OR_CLOSING:
            self._command_dome("close", report)
        return report

    def stop(self) -> None:
        """Release the leases (a clean stop lets the next monitor claim at once)."""
        for controller in (self.dome, self.mount):
            if controller is not None and controller.lease is not None:
                controller.lease.release()
