"""Afterglows: a power-law fading point source, rendered wherever a frame covers it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from photutils.aperture import CircularAnnulus, CircularAperture, aperture_photometry

from simulators.sky import Afterglow, SimulatedReferenceCatalog, detector_model
from tests.simulators.sky.conftest import make_config
from tests.simulators.sky.helpers import VISIBLE, later, render_light

TRIGGER = later(-5)
# An empty patch of the test field (no catalog star within 25").
BURST = Afterglow(59.994, 9.994, TRIGGER, mag_t0=15.0, t0_s=60.0, alpha=1.2, name="GRB 261209A")


def _calibrated(rendered, config):
    """Electrons per pixel with bias removed and the true flat divided out."""
    instrument = config.instrument(VISIBLE)
    model = detector_model(config.sky, instrument, config.sky.seed)
    return (rendered.data - model.bias_map_adu) * instrument.gain_e_per_adu / model.flat("r")


def _aperture_flux(image, x, y, radius):
    aperture = CircularAperture((x, y), r=radius)
    annulus = CircularAnnulus((x, y), r_in=radius + 5, r_out=radius + 12)
    raw = aperture_photometry(image, aperture)["aperture_sum"][0]
    background = np.median(annulus.to_mask(method="center").get_values(image))
    return raw - background * aperture.area


def test_the_afterglow_fades_as_its_power_law_integrated_over_each_exposure():
    config = make_config(512)
    rows = []
    for minutes in (0.0, 10.0, 55.0):
        rendered = render_light(config, start=later(minutes), afterglows=(BURST,))
        row = rendered.truth[rendered.truth["kind"] == "afterglow"][0]
        assert row["name"] == "GRB 261209A" and row["in_frame"]
        t1 = (later(minutes) - TRIGGER).total_seconds()
        t2 = t1 + 30.0
        mean = 60.0**1.2 * (t2**-0.2 - t1**-0.2) / (-0.2) / 30.0  # ∫(t/t0)^-α dt / T
        assert row["mag"] == pytest.approx(15.0 - 2.5 * math.log10(mean), abs=1e-9)
        others = rendered.truth[rendered.truth["kind"] != "afterglow"]
        assert np.min(np.hypot(others["x"] - row["x"], others["y"] - row["y"])) > 25
        image = _calibrated(rendered, config)
        radius = 3 * row["fwhm_px"]
        measured = _aperture_flux(image, row["x"], row["y"], radius)
        sky = rendered.truth.meta["conditions"]["sky_e_per_pixel"]
        noise = math.sqrt(row["flux_e"] + math.pi * radius**2 * (sky + 64))
        # Within an aperture of 3 FWHM the Moffat (beta 3.5) holds 99.6 % of the flux.
        assert measured == pytest.approx(0.996 * row["flux_e"], abs=5 * noise)
        rows.append(row)
    assert rows[0]["flux_e"] > rows[1]["flux_e"] > rows[2]["flux_e"]
    # Flux ratio between frames: exactly the ratio of the integrated power law.
    assert rows[0]["mag"] < rows[1]["mag"] < rows[2]["mag"]


def test_nothing_before_the_trigger_and_never_in_the_reference_catalog():
    config = make_config(512)
    early = render_light(config, start=later(-10), afterglows=(BURST,))
    assert not np.any(early.truth["kind"] == "afterglow")
    catalog = SimulatedReferenceCatalog(config.sky).query(59.994, 9.994, 2 / 3600, "r")
    assert len(catalog) == 0 or np.all(catalog["mag"] > 17)


def test_colours_follow_the_spectral_index():
    config = make_config(512)
    r = render_light(config, afterglows=(BURST,)).truth
    i = render_light(config, filter="i", afterglows=(BURST,)).truth
    m_r = r[r["kind"] == "afterglow"]["mag"][0]
    m_i = i[i["kind"] == "afterglow"]["mag"][0]
    expected = -2.5 * 0.8 * math.log10(763.0 / 622.0)
    assert m_i - m_r == pytest.approx(expected, abs=1e-9)


def test_an_afterglow_outside_the_frame_is_not_rendered():
    config = make_config(128)
    far = Afterglow(61.0, 10.0, TRIGGER, mag_t0=12.0)
    rendered = render_light(config, afterglows=(far,))
    assert not np.any(rendered.truth["kind"] == "afterglow")
