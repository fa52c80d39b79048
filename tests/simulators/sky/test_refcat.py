"""The reference catalog: the renderer's stars with survey errors and a limit, not the truth."""

from __future__ import annotations

import numpy as np
import pytest

from infra.refcat import ReferenceCatalog
from simulators.sky import SimulatedReferenceCatalog, StarModel, stars_in_cone
from simulators.sky.catalog import angular_distance_deg
from tests.simulators.sky.conftest import make_config


def _truth_by_id(config, ra, dec, radius, filter_name):
    stars = stars_in_cone(StarModel.from_config(config.sky), ra, dec, radius + 0.01)
    mags = stars.magnitudes(config.sky.filters[filter_name])
    index = {int(i): k for k, i in enumerate(stars.source_id)}
    return stars, mags, index


def test_catalog_entries_are_the_true_stars_with_their_stated_errors():
    config = make_config(refcat_mag_limit=21.0)
    catalog = SimulatedReferenceCatalog(config.sky)
    assert isinstance(catalog, ReferenceCatalog)
    table = catalog.query(60.0, 10.0, 0.5, "r")
    stars, mags, index = _truth_by_id(config, 60.0, 10.0, 0.5, "r")
    rows = np.array([index[int(i)] for i in table["source_id"]])
    assert len(table) > 500
    assert np.all(table["mag"] <= 21.0)
    assert np.all(np.diff(table["mag"]) >= 0)  # brightest first
    # Photometric residuals are consistent with the stated errors (normalised scatter ≈ 1).
    pulls = (table["mag"] - mags[rows]) / table["mag_err"]
    assert np.std(pulls) == pytest.approx(1.0, abs=0.1)
    assert abs(np.mean(pulls)) < 0.15
    assert not np.allclose(table["mag"], mags[rows])  # not the truth itself
    # Positions: offsets scattered as the stated position errors.
    d_dec = (np.asarray(table["dec"]) - stars.dec[rows]) * 3600.0
    d_ra = (np.asarray(table["ra"]) - stars.ra[rows]) * np.cos(np.radians(stars.dec[rows])) * 3600
    offsets = np.hypot(d_ra, d_dec)
    normalised = offsets / table["pos_err_arcsec"]
    # |2-D offset| / sigma follows a Rayleigh law of mean sqrt(pi/2).
    assert np.mean(normalised) == pytest.approx(np.sqrt(np.pi / 2), rel=0.08)
    assert len(offsets) == len(table)


def test_the_limit_cuts_on_measured_magnitudes_and_faint_stars_are_missing():
    config = make_config(refcat_mag_limit=19.0)
    table = SimulatedReferenceCatalog(config.sky).query(60.0, 10.0, 0.4, "i")
    stars, mags, _ = _truth_by_id(config, 60.0, 10.0, 0.4, "i")
    near = angular_distance_deg(stars.ra, stars.dec, 60.0, 10.0) <= 0.4
    assert len(table) < np.sum(near & (mags < 23))
    assert abs(len(table) - np.sum(near & (mags <= 19.0))) < 0.1 * len(table) + 10
    assert table.meta["filter"] == "i"


def test_queries_repeat_exactly_and_positions_do_not_depend_on_the_filter():
    config = make_config()
    catalog = SimulatedReferenceCatalog(config.sky)
    a = catalog.query(60.0, 10.0, 0.3, "r")
    b = SimulatedReferenceCatalog(config.sky).query(60.0, 10.0, 0.3, "r")
    assert np.array_equal(a["ra"], b["ra"]) and np.array_equal(a["mag"], b["mag"])
    g = catalog.query(60.0, 10.0, 0.3, "g")
    common, ia, ig = np.intersect1d(a["source_id"], g["source_id"], return_indices=True)
    assert len(common) > 100
    assert np.array_equal(a["ra"][ia], g["ra"][ig])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((60.0, 10.0, 0.3, "V"), "not in the reference catalog"),
        ((60.0, 10.0, 0.3, "Dark"), "opaque"),
        ((60.0, 10.0, 0.0, "r"), "radius_deg"),
    ],
)
def test_bad_queries_are_refused_with_the_reason(args, message):
    catalog = SimulatedReferenceCatalog(make_config().sky)
    with pytest.raises(ValueError, match=message):
        catalog.query(*args)
