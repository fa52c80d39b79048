"""The journal's record of the calibration sets a night took (``KIND_CALIBRATION``): which set,
when it started and ended. The night writes it (:mod:`tasks.night.calibrations`); a replay
reads how long each set took, the devices' time it cannot compute (docs/replay.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from infra.journal import KIND_CALIBRATION, entries


def calibration_payload(
    name: str, started: datetime, ended: datetime, summary: str
) -> dict[str, str]:
    """The record of calibration set ``name`` taken from ``started`` to ``ended``."""
    return {
        "set": name,
        "started": started.isoformat(),
        "ended": ended.isoformat(),
        "summary": summary,
    }


def calibration_durations(session: Session, night: str) -> dict[str, list[float]]:
    """How long (simulated s) each calibration set of night ``night`` took, per set in the
    order taken; a record without its instants is skipped."""
    found: dict[str, list[float]] = {}
    for entry in entries(session, night=night, kinds=[KIND_CALIBRATION]):
        payload = entry.payload if isinstance(entry.payload, dict) else {}
        try:
            took = datetime.fromisoformat(str(payload["ended"])) - datetime.fromisoformat(
                str(payload["started"])
            )
        except (KeyError, ValueError):
            continue
        found.setdefault(str(payload.get("set")), []).append(max(0.0, took.total_seconds()))
    return found
