"""Strategies: which one covers a burst, the tiles covering its error circle, and the follow-up
request built for the request path."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from tasks.alerts.identity import separation_deg
from tasks.alerts.strategy import (
    Coverage,
    cell_probability,
    choose_strategy,
    field_of_view_deg,
    followup_spec,
    gaussian_sigma_deg,
    order_tiles,
    render_request_xml,
    tile_centres,
    tile_offsets,
)
from tasks.requests.parse import parse_request
from tasks.requests.validate import validate_request

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("seed", range(40))
def test_tiles_cover_every_point_of_the_error_circle(seed):
    rng = random.Random(seed)
    field = rng.uniform(0.1, 1.0)
    radius = rng.uniform(0.01, 3.0) * field
    overlap = rng.uniform(0.0, 0.5)
    offsets = tile_offsets(radius, field, overlap)
    half = field / 2.0
    for _ in range(400):
        r = radius * math.sqrt(rng.random())
        angle = rng.uniform(0, 2 * math.pi)
        x, y = r * math.cos(angle), r * math.sin(angle)
        assert any(abs(x - tx) <= half and abs(y - ty) <= half for tx, ty in offsets)
    if radius <= half:
        assert offsets == [(0.0, 0.0)]


def test_the_default_strategies_can_cover_their_own_largest_error_box(config):
    for strategy in config.alerts.strategies:
        for mission in strategy.missions:
            result = choose_strategy(mission, strategy.max_error_radius_deg, config)
            assert isinstance(result, Coverage), result
            assert result.tiles <= strategy.max_tiles
    swift = next(s for s in config.alerts.strategies if s.name == "swift-bat")
    assert field_of_view_deg(swift, config) == pytest.approx(2048 * 0.63 / 3600)


def test_the_most_specific_strategy_wins_and_refusals_say_why(config):
    swift = choose_strategy("Swift", 0.05, config)
    assert (swift.strategy.name, swift.tiles) == ("swift-bat", 1)
    svom = choose_strategy("SVOM", 0.2, config)
    assert (svom.strategy.name, svom.tiles) == ("svom-eclairs", 4)
    fermi = choose_strategy("fermi", 1.0, config)
    assert (fermi.strategy.name, fermi.tiles) == ("gbm-gecam-wide", 32)
    assert "swift-bat covers up to 0.15 deg" in choose_strategy("Swift", 0.3, config)
    assert "gbm-gecam-wide covers up to 5 deg" in choose_strategy("GECAM", 5.6, config)
    assert "no follow-up strategy for MAXI" in choose_strategy("MAXI", 0.1, config)


def test_tile_centres_lie_at_their_offsets_on_the_sky(config):
    coverage = choose_strategy("Fermi", 1.0, config)
    centres = tile_centres(10.0, 80.0, coverage)
    assert len(centres) == 32
    for (ra, dec), (east, north) in zip(centres, coverage.offsets, strict=True):
        assert separation_deg(10.0, 80.0, ra, dec) == pytest.approx(math.hypot(east, north))
        assert 0.0 <= ra < 360.0


def _at_altitude(altitude_deg: float, config) -> tuple[float, float]:
    """RA, Dec that stand at ``altitude_deg`` due south at :data:`NOW`."""
    import astropy.units as u
    from astropy.coordinates import AltAz, SkyCoord

    from infra.astro import site_location
    from tasks.sky import as_time

    frame = AltAz(obstime=as_time(NOW), location=site_location(config.site))
    icrs = SkyCoord(alt=altitude_deg * u.deg, az=180.0 * u.deg, frame=frame).icrs
    return float(icrs.ra.deg), float(icrs.dec.deg)


def test_tiles_below_the_altitude_limit_go_after_the_visible_ones_in_probability_order(config):
    from tasks.sky import altitudes_deg, as_time

    coverage = choose_strategy("Fermi", 1.0, config)
    limit = config.limits.min_altitude_deg
    centres = tile_centres(*_at_altitude(limit + 0.3, config), coverage)
    ordered = order_tiles(centres, NOW, config)
    low = altitudes_deg([c[0] for c in ordered], [c[1] for c in ordered], as_time(NOW), config)
    below = [bool(a < limit) for a in low[:, 0]]
    assert 0 < sum(below) < len(below)  # the box straddles the limit
    assert below == sorted(below)  # every visible tile first
    ranks = [centres.index(c) for c in ordered]
    visible = below.index(True)
    assert ranks[:visible] == sorted(ranks[:visible]) and ranks[visible:] == sorted(ranks[visible:])
    high = tile_centres(*_at_altitude(60.0, config), coverage)
    assert order_tiles(high, NOW, config) == high  # all visible: probability order


def test_the_follow_up_request_goes_through_the_request_path_unchanged(config):
    coverage = choose_strategy("SVOM", 0.2, config)
    window = (NOW + timedelta(minutes=30), NOW + timedelta(hours=5))
    spec = followup_spec(
        label="GRB 261125A",
        source="alert:ivo://org.svom/fsc#sb26112501",
        ra_deg=123.4,
        dec_deg=-20.5,
        coverage=coverage,
        window=window,
        now=NOW,
        config=config,
    )
    assert spec.priority == config.alerts.priority and spec.program == "GRB"
    assert spec.sequences[0].name == "GRB 261125A tile 1/4"
    assert {a.instrument for a in spec.sequences[0].albums} == {"Visible camera", "Infrared camera"}
    valid = validate_request(spec, config, NOW, max_priority=config.alerts.priority)
    assert valid.sequences[0].window_start == window[0]
    assert valid.sequences[0].window_end == window[1]
    assert valid.sequences[0].priority == 100
    # The journaled XML is a request file that parses back to the same request.
    reparsed = parse_request(render_request_xml(spec), spec.source, 1 << 20)
    for field in ("name", "program", "target_type", "relative", "priority"):
        assert getattr(reparsed, field) == getattr(spec, field)
    for mine, theirs in zip(spec.sequences, reparsed.sequences, strict=True):
        for field in ("name", "duration_s", "jd1", "jd2", "target_coords"):
            assert getattr(mine, field) == getattr(theirs, field)
        for a, b in zip(mine.albums, theirs.albums, strict=True):
            assert (a.name, a.instrument) == (b.name, b.instrument)
            assert [(p.name, p.filter, p.exposure_s, p.nb_images) for p in a.plans] == [
                (p.name, p.filter, p.exposure_s, p.nb_images) for p in b.plans
            ]


@pytest.mark.parametrize("containment", [0.5, 0.68, 0.9])
def test_the_gaussian_holds_its_containment_within_the_radius(containment):
    sigma = gaussian_sigma_deg(2.0, containment)
    assert 1.0 - math.exp(-(2.0**2) / (2.0 * sigma**2)) == pytest.approx(containment)
    # Cells tiling the whole plane hold all of the probability.
    cells = [(0.5 * i, 0.5 * j) for i in range(-40, 41) for j in range(-40, 41)]
    assert sum(cell_probability(x, y, 0.5, sigma) for x, y in cells) == pytest.approx(1.0)


def _with_strategy(config, strategy, **changes):
    """``config`` whose only strategy is ``strategy`` with ``changes``."""
    alerts = config.alerts.model_copy(update={"strategies": [strategy.model_copy(update=changes)]})
    return config.model_copy(update={"alerts": alerts})


def _draws(radius_deg: float, containment: float, n: int, seed: int):
    import numpy as np

    sigma = gaussian_sigma_deg(radius_deg, containment)
    return np.random.default_rng(seed).normal(0.0, sigma, size=(n, 2))


def test_a_box_larger_than_the_tiles_is_covered_by_its_most_probable_tiles(config):
    import numpy as np

    coverage = choose_strategy("Fermi", 3.0, config)
    assert isinstance(coverage, Coverage), coverage
    strategy = coverage.strategy
    assert coverage.tiles == strategy.max_tiles < coverage.tiles_needed
    # Every tile kept is at least as probable as every tile left out.
    whole = choose_strategy("Fermi", 3.0, _with_strategy(config, strategy, max_tiles=1000))
    assert whole.tiles == coverage.tiles_needed and whole.offsets[:36] == coverage.offsets
    cell = coverage.field_deg * (1.0 - config.alerts.tile_overlap)
    sigma = gaussian_sigma_deg(3.0, strategy.error_containment)
    probability = [cell_probability(x, y, cell, sigma) for x, y in whole.offsets]
    assert min(probability[:36]) >= max(probability[36:]) - 1e-12
    # The probability said is the share of bursts drawn from the circle's Gaussian that fall in
    # a kept tile's cell (a draw of 200,000; binomial sigma ~0.001).
    seed = random.randrange(2**32)
    points = _draws(3.0, strategy.error_containment, 200_000, seed)
    inside = np.zeros(len(points), dtype=bool)
    for x, y in coverage.offsets:
        inside |= (np.abs(points[:, 0] - x) <= cell / 2) & (np.abs(points[:, 1] - y) <= cell / 2)
    assert inside.mean() == pytest.approx(coverage.probability, abs=0.005), f"seed {seed}"
    assert 0.05 <= coverage.probability < strategy.error_containment
    assert "the 36 most probable of" in coverage.describe()


def test_a_wholly_tiled_circle_holds_at_least_its_containment(config):
    coverage = choose_strategy("Fermi", 1.0, config)
    assert coverage.tiles == coverage.tiles_needed == 32
    assert coverage.strategy.error_containment <= coverage.probability < 1.0
    assert coverage.describe() == ", 32 tiles"


def test_too_little_probability_in_the_allowed_tiles_is_refused_with_the_figure(config):
    gbm = next(s for s in config.alerts.strategies if s.name == "gbm-gecam-wide")
    reason = choose_strategy("Fermi", 3.0, _with_strategy(config, gbm, min_probability=0.5))
    assert isinstance(reason, str)
    assert "36 most probable of" in reason and "(at least 50% wanted)" in reason
    # Without min_probability the box is refused as before: too many tiles.
    strict = _with_strategy(config, gbm, min_probability=None)
    assert "would need" in choose_strategy("Fermi", 3.0, strict)
