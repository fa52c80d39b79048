"""Safe/unsafe with hysteresis: a closing reading turns the verdict unsafe at once; turning safe
needs ``hold_good_s`` of uninterrupted good readings (default 10 minutes), so a flapping sensor
gives at most one open/close cycle per hold period. At start-up the verdict is unsafe until the
hold time has been seen good."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class GateVerdict:
    """The safety gate's answer after one synthesis (what the monitor acts on; the night flows
    read it back as :class:`tasks.environment.observatory_state.WeatherVerdict`)."""

    safe: bool
    changed: bool
    reason: str
    good_since: datetime | None


class SafetyGate:
    """Hysteresis over successive syntheses.

    Parameters
    ----------
    hold_good_s : float
        Simulated seconds of uninterrupted good readings before the verdict turns safe.
    """

    def __init__(self, hold_good_s: float) -> None:
        if hold_good_s < 0:
            raise ValueError("hold_good_s must be >= 0")
        self.hold_good_s = hold_good_s
        self.safe = False
        self.good_since: datetime | None = None
        self.last_reason = "starting: waiting for the hold time of good readings"

    def update(
        self, should_close: bool, reasons: tuple[str, ...] | list[str], now: datetime
    ) -> GateVerdict:
        """Feed one synthesis (its ``should_close`` and ``reasons``) at ``now``."""
        was_safe = self.safe
        if should_close:
            self.good_since = None
            self.safe = False
            self.last_reason = "; ".join(reasons) or "unsafe"
        else:
            if self.good_since is None:
                self.good_since = now
            held = (now - self.good_since).total_seconds()
            if not self.safe and held >= self.hold_good_s:
                self.safe = True
                self.last_reason = f"every element good for {held:.0f} s"
            elif not self.safe:
                self.last_reason = (
                    f"good for {held:.0f} s of the {self.hold_good_s:.0f} s hold time"
                )
        return GateVerdict(self.safe, self.safe != was_safe, self.last_reason, self.good_since)

    def seconds_until_safe(self, now: datetime) -> float | None:
        """Simulated seconds left before the verdict may turn safe (None while unsafe readings
        continue, 0 when already safe)."""
        if self.safe:
            return 0.0
        if self.good_since is None:
            return None
        return max(0.0, self.hold_good_s - (now - self.good_since).total_seconds())
