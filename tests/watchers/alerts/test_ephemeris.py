"""The listener's sky (a grid of ephemerides) against the exact one
(:func:`tasks.sky.visibility_at`)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from infra.config import load_config
from tasks.sky import visibility_at
from watchers.alerts.ephemeris import GRID_SPAN_S, EphemerisSky

T0 = datetime(2018, 12, 13, 12, 58, 42, tzinfo=UTC)  # GRB 181213's Swift notice


@pytest.fixture(scope="module")
def sky() -> EphemerisSky:
    sky = EphemerisSky(load_config())
    sky.prepare(T0)
    return sky


def test_the_grid_gives_the_exact_decision_and_figures(sky: EphemerisSky) -> None:
    config = sky.config
    rng = random.Random(20261204)
    observable = 0
    for _ in range(40):
        when = T0 + timedelta(seconds=rng.uniform(-300, GRID_SPAN_S - 600))
        ra, dec = rng.uniform(0, 360), rng.uniform(-70, 89)
        exact, fast = visibility_at(ra, dec, when, config), sky.now(ra, dec, when)
        assert (fast.observable, fast.reason) == (exact.observable, exact.reason)
        assert fast.altitude_deg == pytest.approx(exact.altitude_deg, abs=1e-5)
        assert fast.sun_altitude_deg == pytest.approx(exact.sun_altitude_deg, abs=1e-3)
        assert fast.moon_separation_deg == pytest.approx(exact.moon_separation_deg, abs=1e-3)
        observable += fast.observable
    assert 0 < observable < 40  # both outcomes were compared


def test_an_instant_off_the_grid_is_answered_exactly_and_the_grid_moves_there() -> None:
    config = load_config()
    sky = EphemerisSky(config)
    sky.prepare(T0)
    later = T0 + timedelta(days=3)
    exact = visibility_at(30.0, 40.0, later, config)
    assert sky.now(30.0, 40.0, later) == exact
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the background rebuild (not a speed assertion)
        grid = sky._grid.current
        if grid is not None and grid.covers(later.timestamp()):
            break
        time.sleep(0.05)
    grid = sky._grid.current
    assert grid is not None and grid.covers(later.timestamp())
