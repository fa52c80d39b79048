"""The environment monitor's decisions, in process: each journaled PLC reading is synthesised,
fed to the hysteresis gate, and the dome acts as the monitor's reflex would (DESIGN §2), with
the same events journaled. Same ``tasks.environment`` code as ``watchers/environment``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from infra.clock import Clock
from infra.config import SiteConfig
from infra.events import DOME_ACTION, WEATHER_SAFE, WEATHER_UNSAFE, emit, site_resource
from infra.journal import KIND_PLC, record
from tasks.environment.hysteresis import SafetyGate
from tasks.environment.observatory_state import DomeRequestState, dome_request, verdict_write
from tasks.environment.plc import PlcReplyError, parse_status_reply
from tasks.environment.synthesis import PlcPoll, synthesize
from tasks.night.policy import NightWindows

SOURCE = "environment-monitor"


@dataclass
class SimulatedDome:
    """The dome and the monitor's gate as the replay sees them."""

    config: SiteConfig
    windows: NightWindows
    clock: Clock
    gate: SafetyGate = field(init=False)
    open: bool = False
    first: bool = True
    #: When the dome last opened or closed.
    moved_at: datetime | None = None

    def __post_init__(self) -> None:
        self.gate = SafetyGate(self.config.safety.hold_good_s)

    @property
    def safe(self) -> bool:
        """The gate's current verdict."""
        return self.gate.safe

    def _is_night(self, now: datetime) -> bool:
        sunset, sunrise = self.windows.sunset, self.windows.sunrise
        return sunset is not None and sunrise is not None and sunset <= now <= sunrise

    def reading(self, session: Session, payload: Any, raw: bytes | None, at: datetime) -> None:
        """One journaled PLC reading at ``at``: record it, synthesise, gate, act, announce."""
        record(KIND_PLC, "plc", payload, sim_time=at, raw=raw, into=session)
        reading, error = None, None
        try:
            reading = parse_status_reply(payload)
        except (PlcReplyError, TypeError, KeyError, ValueError) as problem:
            error = f"malformed PLC reply: {problem}"
        synthesis = synthesize(
            PlcPoll(reading, at, error),
            now=at,
            safety=self.config.safety,
            is_night=self._is_night(at),
            overrides=[],
            stale_after_s=self.config.safety.stale_after_s,
        )
        verdict = self.gate.update(synthesis.should_close, synthesis.reasons, at)
        actions = self.act(session, at)
        if verdict.changed or self.first:
            verdict_write(verdict.safe, verdict.reason, at)(session)
        body = {
            "weather_status": synthesis.weather_status,
            "site_status": synthesis.site_status,
            "reasons": list(synthesis.reasons),
            "actions": actions,
        }
        if verdict.changed:
            name = WEATHER_SAFE if verdict.safe else WEATHER_UNSAFE
            self._emit(session, name, {**body, "reason": verdict.reason})
        elif actions:
            self._emit(session, DOME_ACTION, body)
        self.first = False

    def act(self, session: Session, at: datetime) -> list[str]:
        """What the reflex does at ``at``: close when unsafe, open only when asked and safe."""
        wanted = self.safe and dome_request(session).state == DomeRequestState.OPEN
        if wanted == self.open:
            return []
        self.open, self.moved_at = wanted, at
        return ["dome open"] if wanted else ["dome close"]

    def assume_safe(self, session: Session, at: datetime) -> None:
        """No PLC reading at all: a safe verdict, so the night can be replayed."""
        self.gate.safe = True
        verdict_write(True, "replay: no PLC reading journaled, taken as safe", at)(session)

    def _emit(self, session: Session, name: str, body: dict[str, Any]) -> None:
        emit(name, site_resource(), body, source=SOURCE, into=session, clock=self.clock)
