"""Shared set-up of the scheduler's tests: the site, one night, a way to write candidates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.config import load_config
from tasks.scheduling.night_times import night_for
from tasks.scheduling.problem import Candidate

CONFIG = load_config()
#: The night of the suite's EVENING (2026-11-25 02:00 UTC, 19:00 at San Pedro Mártir).
NIGHT = night_for("2026-11-24", CONFIG)
#: Local sidereal time at the start of that night is about 332.6 deg: targets near RA 330-350
#: culminate early in the night, targets near RA 60-120 late.
MOON_RA_DEC_AT_MIDNIGHT = (70.38, 26.91)


def candidate(id: int, **fields) -> Candidate:
    """A candidate over the whole night unless told otherwise (20 min, priority 1, zenith-ish)."""
    values = {
        "priority": 1,
        "duration_s": 1200.0,
        "window_start": NIGHT.start - timedelta(hours=1),
        "window_end": NIGHT.end + timedelta(hours=1),
        "ra_deg": 20.0,
        "dec_deg": 31.0,
        "name": f"seq{id}",
    }
    values.update(fields)
    return Candidate(id=id, **values)


@pytest.fixture
def evening() -> datetime:
    """Planning instant: 18:00 local, before the night starts."""
    return datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
