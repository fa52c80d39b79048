"""The synthetic star catalog: cells tile the sky, draws repeat, counts follow the model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators.sky.catalog import (
    StarModel,
    angular_distance_deg,
    band_cells,
    cell,
    cell_stars,
    cells_in_cone,
    galactic_latitude_deg,
    stars_in_cone,
)
from tests.simulators.sky.conftest import make_config


def test_cells_tile_the_whole_sphere_with_near_equal_areas():
    size = 2.0
    bands = round(180 / size)
    areas = [cell(j, i, size).area_deg2 for j in range(bands) for i in range(band_cells(j, size))]
    assert sum(areas) == pytest.approx(4 * math.pi * (180 / math.pi) ** 2, rel=1e-9)
    # Away from the poles, cells are within 20 % of the nominal area.
    mid = [cell(j, 0, size).area_deg2 for j in range(5, bands - 5)]
    assert max(mid) / min(mid) < 1.2


@pytest.mark.parametrize(
    ("ra", "dec"), [(60.0, 10.0), (0.05, -20.0), (359.9, 45.0), (123.0, 89.8), (10.0, -89.9)]
)
def test_a_cone_finds_every_star_of_a_brute_force_search(ra, dec):
    model = StarModel.from_config(make_config().sky)
    radius = 0.4
    found = stars_in_cone(model, ra, dec, radius)
    # Brute force: every cell of the bands concerned, filtered by distance.
    size = model.cell_size_deg
    height = 180 / round(180 / size)
    bands = range(
        max(0, math.floor((dec - radius + 90) / height) - 1),
        min(round(180 / size), math.floor((dec + radius + 90) / height) + 2),
    )
    everything = []
    for j in bands:
        n = band_cells(j, size)
        for i in range(n):
            c = cell(j, i, size)
            gap = abs((c.centre[0] - ra + 180.0) % 360.0 - 180.0)
            window = 10.0 / max(math.cos(math.radians(c.centre[1])), 0.01)
            if n <= 200 or gap <= window:
                everything.append(cell_stars(model, j, i))
    ids = set()
    for stars in everything:
        near = angular_distance_deg(stars.ra, stars.dec, ra, dec) <= radius
        ids |= set(stars.source_id[near].tolist())
    assert set(found.source_id.tolist()) == ids
    assert len(ids) > 0
    assert len(cells_in_cone(ra, dec, radius, size)) < 200


def test_the_same_cell_gives_the_same_stars_in_every_process():
    model = StarModel.from_config(make_config().sky)
    first = cell_stars(model, 300, 40)
    cell_stars.cache_clear()
    again = cell_stars(StarModel.from_config(make_config().sky), 300, 40)
    assert np.array_equal(first.ra, again.ra) and np.array_equal(first.mag_ref, again.mag_ref)
    other_seed = cell_stars(StarModel.from_config(make_config().sky, seed=7), 300, 40)
    assert not np.array_equal(first.ra[:10], other_seed.ra[:10])
    c = cell(300, 40, model.cell_size_deg)
    assert np.all((first.ra >= c.ra_min) & (first.ra < c.ra_max))
    assert np.all((first.dec >= c.dec_min) & (first.dec <= c.dec_max))


def _expected_in_bins(model: StarModel, ra: float, dec: float, radius: float, edges):
    """Model counts per bin within the cone: each cell's density times the cone's share of it."""
    cells = cells_in_cone(ra, dec, radius, model.cell_size_deg)
    expected = np.zeros(len(edges) - 1)
    rng = np.random.default_rng(0)
    for c in cells:
        # Fraction of the cell inside the cone, by uniform sampling on the sphere.
        n = 4000
        r = c.ra_min + rng.random(n) * (c.ra_max - c.ra_min)
        s1, s2 = math.sin(math.radians(c.dec_min)), math.sin(math.radians(c.dec_max))
        d = np.degrees(np.arcsin(s1 + rng.random(n) * (s2 - s1)))
        inside = float(np.mean(angular_distance_deg(r, d, ra, dec) <= radius))
        if inside == 0:
            continue
        b = float(galactic_latitude_deg(np.array([c.centre[0]]), np.array([c.centre[1]]))[0])
        for k in range(len(edges) - 1):
            per_deg2 = model.counts_per_deg2(edges[k], edges[k + 1], b)
            expected[k] += inside * c.area_deg2 * float(per_deg2)
    return expected


@pytest.mark.parametrize(("slope", "density"), [(0.25, 550.0), (0.35, 200.0)])
def test_star_counts_per_magnitude_bin_follow_the_configured_model(slope, density):
    config = make_config(star_count_slope=slope, star_density_per_deg2_mag=density)
    model = StarModel.from_config(config.sky)
    ra, dec, radius = 60.0, 10.0, 1.0
    stars = stars_in_cone(model, ra, dec, radius)
    edges = np.arange(model.mag_bright, model.mag_faint + 0.01, 1.0)
    observed, _ = np.histogram(stars.mag_ref, bins=edges)
    expected = _expected_in_bins(model, ra, dec, radius, edges)
    # The Poisson count of each cell makes the bins Poisson; cell-fraction sampling adds ~1 %.
    sigma = np.sqrt(expected + (0.01 * expected) ** 2)
    pulls = (observed - expected) / np.maximum(sigma, 1.0)
    assert np.all(np.abs(pulls) < 4.0), pulls
    chi2 = float(np.sum(pulls[expected > 5] ** 2))
    dof = int(np.sum(expected > 5))
    assert chi2 < dof + 4 * math.sqrt(2 * dof), (chi2, dof)
    assert observed.sum() > 10000


def test_galactic_latitude_matches_astropy():
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(0, 360, 50), np.degrees(np.arcsin(rng.uniform(-1, 1, 50)))
    expected = SkyCoord(ra * u.deg, dec * u.deg).galactic.b.deg
    assert np.allclose(galactic_latitude_deg(ra, dec), expected, atol=1e-8)


def test_crowding_grows_towards_the_galactic_plane_as_configured():
    config = make_config(star_latitude_exponent=1.5, star_latitude_min_deg=3.0)
    model = StarModel.from_config(config.sky)
    # (RA, Dec) near b = +60 and b = +5 (checked below).
    high = (190.0, 27.0)
    low = (300.0, 36.0)
    b_high, b_low = galactic_latitude_deg(np.array([high[0], low[0]]), np.array([high[1], low[1]]))
    assert b_high > 55 and 2 < b_low < 8
    n_high = len(stars_in_cone(model, *high, 0.3))
    n_low = len(stars_in_cone(model, *low, 0.3))
    expected_ratio = float(model.latitude_factor(b_low) / model.latitude_factor(b_high))
    assert n_low / n_high == pytest.approx(expected_ratio, rel=0.15)
    assert n_low > 5000  # thousands per frame: a crowded field


def test_colours_make_filters_differ_as_configured():
    config = make_config()
    stars = stars_in_cone(StarModel.from_config(config.sky), 60.0, 10.0, 0.3)
    g = stars.magnitudes(config.sky.filters["g"])
    r = stars.magnitudes(config.sky.filters["r"])
    assert np.allclose(r, stars.mag_ref)
    assert np.mean(g - r) == pytest.approx(config.sky.star_colour_mean, abs=0.05)
    assert np.std(g - r) == pytest.approx(config.sky.star_colour_sigma, rel=0.1)
