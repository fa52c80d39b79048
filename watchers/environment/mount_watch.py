"""The monitor's watch on the mount (#24): a mount that cannot move keeps the dome closed.

A mount in fault, or that does not answer, cannot be parked nor pointed away from the Sun or
the rain: the dome is the only protection left, and the monitor — below the orchestrator,
whether a night block runs or not — closes it. The night's own reaction (holding its sequences,
resuming when the mount is back) goes through the gateways' health, read by the night policy;
this watch is what closes the dome when the fault falls between two blocks.

Precedence of :meth:`MountWatch.look`:

1. no mount controller: no problem (a site without a mount to watch);
2. the mount answers ``STATUS`` with the state ``fault``: a problem at once (the hardware says so);
3. the mount answers: no problem;
4. it does not answer: a problem only after :data:`LOST_AFTER_READS` reads in a row failed — a
   gateway restarting or a link dropping for one poll must not close the dome.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.controllers.mount import Mount, MountMotion
from devices.errors import DeviceProblem

#: Failed reads in a row before an unanswering mount is a problem (a blip is not).
LOST_AFTER_READS = 3


@dataclass(frozen=True)
class MountLook:
    """One look at the mount.

    Attributes
    ----------
    problem : str or None
        Why the mount cannot be trusted to move (None: it can).
    changed : bool
        Whether ``problem`` turned on or off at this look.
    fault : bool
        Whether the mount itself reports a fault (a lost link is told by its gateway instead).
    """

    problem: str | None
    changed: bool
    fault: bool = False


class MountWatch:
    """Successive looks at the mount's ``STATUS`` (no lease needed).

    Parameters
    ----------
    mount : Mount or None
        The mount controller, through its gateway.
    lost_after_reads : int
        Failed reads in a row before an unanswering mount is a problem.
    """

    def __init__(self, mount: Mount | None, lost_after_reads: int = LOST_AFTER_READS) -> None:
        if lost_after_reads < 1:
            raise ValueError("lost_after_reads must be >= 1")
        self.mount = mount
        self.lost_after_reads = lost_after_reads
        self.problem: str | None = None
        self._failed_reads = 0

    def look(self) -> MountLook:
        """Read the mount once and say whether it can be trusted to move (see the module)."""
        if self.mount is None:
            return MountLook(None, False)
        fault = False
        try:
            motion = self.mount.status().motion
        except DeviceProblem as problem:
            self._failed_reads += 1
            lost = self._failed_reads >= self.lost_after_reads
            found = f"mount not answering: {problem}" if lost else self.problem
        else:
            self._failed_reads = 0
            fault = motion is MountMotion.FAULT
            found = "mount in fault" if fault else None
        changed = (found is None) != (self.problem is None)
        self.problem = found
        return MountLook(found, changed, fault)
