"""The operating mode (DESIGN §2): AUTO, the night runs itself; MANUAL, nothing automatic moves
the telescope (alerts are recorded and shown, not slewed to), but safety still acts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from infra.clock import get_clock
from infra.db.models import ObservatoryState
from infra.journal import KIND_OPERATOR, record

MODE_KEY = "operating_mode"


class OperatingMode(StrEnum):
    """Who drives the telescope."""

    AUTO = "AUTO"
    MANUAL = "MANUAL"


def get_operating_mode(session: Session) -> OperatingMode:
    """The current mode (AUTO when never set)."""
    row = session.get(ObservatoryState, MODE_KEY)
    return OperatingMode(row.value) if row is not None else OperatingMode.AUTO


def set_operating_mode(session: Session, mode: str, by: str, at: datetime | None = None) -> None:
    """Set the mode (journaled as an operator command).

    Raises
    ------
    ValueError
        When ``mode`` is not AUTO or MANUAL.
    """
    try:
        value = OperatingMode(mode.strip().upper())
    except ValueError:
        raise ValueError(f"mode {mode!r} is not AUTO or MANUAL") from None
    at = at or get_clock().now()
    row = session.get(ObservatoryState, MODE_KEY)
    if row is None:
        session.add(ObservatoryState(key=MODE_KEY, value=value.value, updated_at=at, updated_by=by))
    else:
        row.value, row.updated_at, row.updated_by = value.value, at, by
    record(KIND_OPERATOR, by, {"command": "mode", "mode": value.value}, sim_time=at, into=session)
