"""What the scheduler benchmark's processes share: the night, the grid and the generated
sequences (deterministic per seed)."""

from __future__ import annotations

import os
import secrets
from datetime import datetime, timedelta

import numpy as np

from tasks.scheduling.problem import Candidate

NIGHT_LABEL = "2026-11-24"
#: astroplan's time resolution, and the grid both planners use when compared.
GRID_S = 60.0
LATITUDE_REACH_DEG = 30.0


def draw_seed() -> int:
    """``SCHEDULER_SEED`` when set, else a random seed (printed with the figures)."""
    value = os.environ.get("SCHEDULER_SEED")
    return int(value) if value else secrets.randbelow(2**31)


def generate(
    count: int, night_start: datetime, night_s: float, latitude_deg: float, seed: int
) -> list[Candidate]:
    """``count`` sequences: random positions over the sky that reaches 30 deg at the site, random
    windows (opening between an hour before dusk and an hour before dawn, 1 to 8 hours long),
    durations 5-30 min, priorities 1-5, altitude >= 30 deg."""
    rng = np.random.default_rng(seed + count)
    lowest_dec = np.radians(latitude_deg - (90.0 - LATITUDE_REACH_DEG))
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(lowest_dec), 1.0, count)))
    ra = rng.uniform(0.0, 360.0, count)
    opens = rng.uniform(-3600.0, night_s - 3600.0, count)
    lengths = rng.uniform(3600.0, 8 * 3600.0, count)
    durations = rng.uniform(300.0, 1800.0, count)
    priorities = rng.integers(1, 6, count)
    return [
        Candidate(
            id=i + 1,
            priority=int(priorities[i]),
            duration_s=float(durations[i]),
            window_start=night_start + timedelta(seconds=float(opens[i])),
            window_end=night_start + timedelta(seconds=float(opens[i] + lengths[i])),
            ra_deg=float(ra[i]),
            dec_deg=float(dec[i]),
            min_altitude_deg=LATITUDE_REACH_DEG,
            name=f"bench{i + 1:05d}",
        )
        for i in range(count)
    ]
