"""The night loop: ask the policy, carry its decision out, until a given instant.

The flows (``start-of-night``, each ``execute-night`` block) run it with handlers that are
Prefect tasks; replay and in-process simulation run it with plain functions on the
discrete-event clock. The loop itself decides nothing: :func:`tasks.night.policy.decide` does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from infra.clock import Clock
from tasks.environment.observatory_state import DomeRequestState
from tasks.night.policy import NightDecision, NightState, decide
from tasks.night.vocabulary import LoopEnd, NightAction

log = logging.getLogger(__name__)


@dataclass
class Handlers:
    """How decisions are carried out (each returns a short description, for the summary).

    ``replan(reason)`` plans the whole rest of the night; ``insert(ids, reason)`` carries out
    a re-plan by incremental insertion (#18: the decision names the sequences to insert, the
    alert's first) and may still plan the whole night when it must (a lost camera the
    insertion does not know of). Without ``insert`` every re-plan is a full one.
    """

    execute: Callable[[int], str]
    replan: Callable[[str], str]
    request_dome: Callable[[str, str], str]
    calibrate: Callable[[str], str]
    insert: Callable[[tuple[int, ...], str], str] | None = None


@dataclass
class LoopSummary:
    """What one run of the loop did."""

    ended: LoopEnd = LoopEnd.STOPPED  # until the loop ends otherwise
    decisions: int = 0
    executed: list[str] = field(default_factory=list)
    replans: int = 0
    calibrations: list[str] = field(default_factory=list)
    waits: int = 0
    #: The reason of the decision that ended the loop (for ``LoopEnd.WEATHER``).
    reason: str = ""


class NightLoop:
    """Run the night until an instant.

    Parameters
    ----------
    clock : Clock
        The one clock (waiting converts to wall time through it).
    read_state : callable
        Returns the current :class:`NightState` given the calibrations done by this loop.
    handlers : Handlers
        What carries the decisions out.
    poll_s : float
        How long to wait (simulated) when the policy gives no instant.
    min_poll_wall_s : float
        Shortest wall wait between two looks.
    stop : threading.Event, optional
        Set to end the loop early (cancellation).
    end_on_weather : bool
        End (``LoopEnd.WEATHER``) when the policy waits for the weather, rather than wait: a
        block of the night gives the telescope back and the next one starts on
        ``pyros.weather.safe``. False (the default) waits, as replay and the evening do.
    """

    def __init__(
        self,
        clock: Clock,
        read_state: Callable[[frozenset[str]], NightState],
        handlers: Handlers,
        *,
        poll_s: float,
        min_poll_wall_s: float,
        stop: threading.Event | None = None,
        end_on_weather: bool = False,
    ) -> None:
        self.clock = clock
        self.read_state = read_state
        self.handlers = handlers
        self.poll_s = poll_s
        self.min_poll_wall_s = min_poll_wall_s
        self.stop = stop or threading.Event()
        self.end_on_weather = end_on_weather
        self.calibrations: set[str] = set()
        self.on_decision: Callable[[NightDecision], None] = lambda decision: None

    def _wait(self, decision: NightDecision, until: datetime) -> None:
        now = self.clock.now()
        target = min(until, now + timedelta(seconds=self.poll_s))
        if decision.until is not None:
            target = min(target, decision.until)
        if self.clock.speed == float("inf"):  # the discrete-event clock: time jumps
            self.clock.sleep_until(target)
            return
        seconds = (target - now).total_seconds()
        self.stop.wait(max(self.min_poll_wall_s, self.clock.wall_seconds(seconds)))

    def run(self, until: datetime) -> LoopSummary:
        """Carry decisions out until ``until`` (or the end of the night, or a stop)."""
        summary = LoopSummary()
        while not self.stop.is_set():
            if self.clock.now() >= until:
                summary.ended = LoopEnd.UNTIL
                break
            state = self.read_state(frozenset(self.calibrations))
            decision = decide(state)
            summary.decisions += 1
            self.on_decision(decision)
            if decision.action is NightAction.END:
                summary.ended = LoopEnd.NIGHT_OVER
                break
            if decision.weather and self.end_on_weather:
                summary.ended, summary.reason = LoopEnd.WEATHER, decision.reason
                break
            self._carry_out(decision, until, summary)
        else:
            summary.ended = LoopEnd.STOPPED
        return summary

    def _carry_out(self, decision: NightDecision, until: datetime, summary: LoopSummary) -> None:
        """Carry one decision out (other than the end) and count it in ``summary``."""
        action = decision.action
        if action is NightAction.EXECUTE:
            assert decision.sequence_id is not None, "the policy names the sequence to execute"
            summary.executed.append(self.handlers.execute(decision.sequence_id))
        elif action is NightAction.REPLAN:
            if decision.insert and self.handlers.insert is not None:
                self.handlers.insert(decision.insert, decision.reason)
            else:
                self.handlers.replan(decision.reason)
            summary.replans += 1
        elif action is NightAction.REQUEST_OPEN:
            self.handlers.request_dome(DomeRequestState.OPEN, decision.reason)
        elif action is NightAction.REQUEST_CLOSE:
            self.handlers.request_dome(DomeRequestState.CLOSED, decision.reason)
        elif action is NightAction.CALIBRATE:
            assert decision.calibration is not None, "the policy names the calibration set"
            self.calibrations.add(decision.calibration)
            summary.calibrations.append(self.handlers.calibrate(decision.calibration))
        else:
            summary.waits += 1
            self._wait(decision, until)
