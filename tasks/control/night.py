"""Manual control that goes through an authority rather than a device lease: the dome (asked of
the environment monitor, which alone moves it) and pausing / resuming the night.

Pausing the night is the MANUAL mode (DESIGN §2), made explicit: the night policy starts
nothing while MANUAL, the alert reflex records alerts without slewing, and safety still acts.
A sequence executing at the pause runs to its end (or until a manual action preempts it at
operator priority). Resuming is AUTO: the night's next decision takes the schedule up again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.models import Sequence
from infra.opmode import OperatingMode, get_operating_mode, set_operating_mode
from tasks.control.lease import DONE, ManualResult, Operator, journal_action
from tasks.environment.observatory_state import (
    DomeRequestState,
    dome_request,
    request_dome,
    weather_verdict,
)


def ask_dome(session: Session, who: Operator, state: str, at: datetime) -> ManualResult:
    """Ask the environment monitor to open or close the dome (as ``pyros dome open/close``).

    The monitor opens only when every element is good and the hold time has passed; it closes
    at once. The request is journaled (``command: dome``) with who and why.

    Raises
    ------
    ValueError
        ``state`` is not ``open``, ``close`` or ``closed``.
    """
    request_dome(session, state, who.user, at, who.reason)
    asked = dome_request(session).state
    verdict = weather_verdict(session)
    if asked == DomeRequestState.OPEN:
        words = "safe" if verdict.safe else f"unsafe ({verdict.reason})"
        message = (
            f"dome requested open: the environment monitor opens it once safe for its hold "
            f"time (last verdict: {words})"
        )
    else:
        message = "dome requested closed: the environment monitor closes it"
    return ManualResult(
        "dome",
        who.user,
        who.reason,
        message,
        {"request": asked.value, "weather_safe": verdict.safe},
    )


def _executing(session: Session) -> list[int]:
    return list(session.scalars(select(Sequence.id).where(Sequence.state == "executing")))


def set_night_paused(session: Session, who: Operator, paused: bool, at: datetime) -> ManualResult:
    """Pause (MANUAL) or resume (AUTO) the night, journaled as ``pause-night`` /
    ``resume-night`` with who and why (beside the ``mode`` entry of the mode change).

    Parameters
    ----------
    session : Session
        The database session (the mode and the journal entries commit together).
    who : Operator
        Who asks and why.
    paused : bool
        True: pause; False: resume.
    at : datetime
        Now (simulated instant).
    """
    action = "pause-night" if paused else "resume-night"
    before = get_operating_mode(session)
    wanted = OperatingMode.MANUAL if paused else OperatingMode.AUTO
    set_operating_mode(session, wanted.value, who.user, at)
    executing = _executing(session)
    if paused:
        running = (
            f"; sequence(s) {', '.join(map(str, executing))} executing now run to their end"
            if executing
            else ""
        )
        message = (
            "night paused (MANUAL): nothing automatic moves the telescope, alerts are recorded "
            f"and shown, not slewed to; safety still acts{running}"
        )
    else:
        message = "night resumed (AUTO): the night's next decision takes the schedule up again"
    if before == wanted:
        message = f"already {wanted.value}: {message}"
    detail = {"mode_before": before.value, "mode": wanted.value, "executing": executing}
    journal_action(action, who, DONE, message, detail, into=session)
    return ManualResult(action, who.user, who.reason, message, detail)
