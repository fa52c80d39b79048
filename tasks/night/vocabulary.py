"""The night's words, in one place: what the policy decides, the calibration sets it asks for,
how a sequence's execution and a run of the night loop end.

Values are the strings stored and shown before these were enums (flow results, events, logs),
so JSON output and the database read the same.
"""

from __future__ import annotations

from enum import StrEnum

#: The reason of the schedule ``plan-night`` makes (the night's first plan; a replay plans when
#: the recorded one did).
PLAN_NIGHT = "plan-night"


class NightAction(StrEnum):
    """What the night does next (the night policy's decision)."""

    WAIT = "wait"  # until ``until`` (or until something changes)
    CALIBRATE = "calibrate"  # ``calibration`` names which set
    REQUEST_OPEN = "request-open"  # ask the monitor to open the dome
    REQUEST_CLOSE = "request-close"  # ask the monitor to close the dome
    REPLAN = "replan"  # make a new schedule for the rest of the night
    EXECUTE = "execute"  # run ``sequence_id``
    END = "end"  # park, close, dawn calibrations, report


class CalibrationSet(StrEnum):
    """The calibration sets of a night."""

    EVENING = "evening-bias-dark"  # bias and darks, any time before the night, dome closed
    DUSK_FLATS = "dusk-flats"  # twilight flats in the dusk window
    DAWN_FLATS = "dawn-flats"  # twilight flats in the dawn window


class ExecutionResult(StrEnum):
    """How one execution of a sequence ended."""

    EXECUTED = "executed"  # every plan done
    INTERRUPTED = "interrupted"  # preempted or a device fault: resumed when re-planned
    NOT_STARTED = "not-started"  # its devices' leases were refused: nothing changed
    CANCELLED = "cancelled"  # its request was cancelled: stopped after the current exposure


class LoopEnd(StrEnum):
    """Why a run of the night loop stopped."""

    UNTIL = "until"  # the instant it was given
    NIGHT_OVER = "night over"  # the policy said the night is over
    STOPPED = "stopped"  # asked to stop (cancellation)
    WEATHER = "weather"  # the policy waits for the weather and the loop was told to end then
