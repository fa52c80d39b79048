"""The simulated night's GRB (#18 item 5): the default scenario with a burst, its notice through
the broker and its afterglow at the notice's position; none when the run ends before it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.cli.nightgrb import AFTERGLOW_MAG, AFTERGLOW_TILE, scenario_with_grb
from app.cli.nightsim import DEFAULT_SCENARIO
from infra.config import get_config
from simulators.scenario import load_scenario
from tasks.alerts.parse import parse_notice


def test_the_default_night_with_a_grb_sends_its_notice_and_shows_its_afterglow(tmp_path):
    config = get_config()
    start = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)
    scenario, grb = scenario_with_grb(DEFAULT_SCENARIO, tmp_path, config, start, 14400.0)
    assert grb.at == start + timedelta(seconds=14400)
    items = json.loads(scenario.read_text())[1:]
    alert = next(item for item in items if "alertSimulator" in item)
    afterglow = next(item for item in items if "afterglowSimulator" in item)["afterglowSimulator"]
    assert alert["time"] == 14400
    assert (afterglow["ra_deg"], afterglow["dec_deg"]) == (grb.ra_deg, grb.dec_deg)
    assert afterglow["magnitude"] == AFTERGLOW_MAG
    # The notice sent is a fresh one for that instant, at that position.
    raw = Path(alert["alertSimulator"]).read_bytes()
    notice = parse_notice(raw, 1 << 20, grb.at, skew_s=60.0)
    assert notice.ivorn == grb.ivorn
    assert abs((notice.issued_at - grb.at).total_seconds()) < 1.0
    # Every request of the default night is still there, and the whole scenario loads.
    base = json.loads(DEFAULT_SCENARIO.read_text())[1:]
    assert sum("userSimulator" in i for i in items) == sum("userSimulator" in i for i in base)
    assert len(load_scenario(scenario).items) == len(base) + 2


def test_a_large_box_s_burst_is_a_gbm_notice_with_its_afterglow_in_one_tile_away_from_it(tmp_path):
    from tasks.alerts.identity import separation_deg
    from tasks.alerts.strategy import choose_strategy, tile_centres

    config = get_config()
    start = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)
    scenario, grb = scenario_with_grb(
        DEFAULT_SCENARIO, tmp_path, config, start, 14400.0, error_deg=0.9
    )
    items = json.loads(scenario.read_text())[1:]
    alert = next(item for item in items if "alertSimulator" in item)
    notice = parse_notice(Path(alert["alertSimulator"]).read_bytes(), 1 << 20, grb.at, 60.0)
    assert (notice.mission, notice.error_radius_deg) == ("Fermi", 0.9)
    glow = next(item for item in items if "afterglowSimulator" in item)["afterglowSimulator"]
    coverage = choose_strategy("Fermi", 0.9, config)
    centres = tile_centres(grb.ra_deg, grb.dec_deg, coverage)
    distances = [separation_deg(glow["ra_deg"], glow["dec_deg"], ra, dec) for ra, dec in centres]
    nearest = distances.index(min(distances))
    assert nearest == AFTERGLOW_TILE - 1  # in the sixth tile, ...
    assert min(distances) < 0.3 * coverage.field_deg < 0.5 * coverage.field_deg < sorted(
        distances)[1]  # ... inside its field and no other tile's  # fmt: skip
    assert separation_deg(glow["ra_deg"], glow["dec_deg"], grb.ra_deg, grb.dec_deg) > (
        0.5 * coverage.field_deg)  # outside the first tile (the box's centre)  # fmt: skip
