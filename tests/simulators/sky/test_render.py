"""Rendered frames: valid FITS, complete headers, determinism, a true WCS, the pointing error."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from infra.config import load_config
from simulators.sky import (
    Afterglow,
    FrameRequest,
    FrameRequestError,
    StarModel,
    render_frame,
    write_frame,
)
from simulators.sky.catalog import cell_stars, galactic_latitude_deg
from simulators.sky.detector import _cached_model
from simulators.sky.output import fits_bytes
from tests.simulators.sky.conftest import FIELD, NIGHT, make_config
from tests.simulators.sky.helpers import (
    INFRARED,
    VISIBLE,
    isolated_bright_stars,
    later,
    light_request,
    measured_centroids,
    render_light,
)

IVORN = "ivo://org.svom/fsc#sb26120901_eclairs-wakeup_" + "x" * 60

REQUESTS = {
    "light": light_request(
        request_id=7, sequence_id=11, plan_id=13, image_id="S0000011-P0000013-I0002",
        frame_index=2, alert_ivorn=IVORN, afterglows=(Afterglow(60.0, 10.0, later(-3), 17.0),),
    ),
    "bias": FrameRequest(instrument=VISIBLE, image_type="bias", start=NIGHT, exposure_s=0.0),
    "dark": FrameRequest(instrument=INFRARED, image_type="dark", start=NIGHT, exposure_s=60.0),
    "twilight flat": light_request(image_type="flat", start=later(-60 * 5.6), exposure_s=3.0),
    "dome flat": FrameRequest(
        instrument=VISIBLE, image_type="flat", start=NIGHT, exposure_s=5.0, filter="g",
        flat_source="dome",
    ),
    "blank filter": light_request(instrument=INFRARED, filter="Dark"),
    "dome closed": light_request(dome_open=False),
}  # fmt: skip

REQUIRED = ("DATE-OBS", "EXPTIME", "FILTER", "IMAGETYP", "OBJECT", "INSTRUME", "TELESCOP")


@pytest.mark.parametrize("kind", sorted(REQUESTS))
def test_every_kind_of_frame_is_valid_fits_with_a_complete_header(kind, tmp_path):
    request = REQUESTS[kind]
    files = write_frame(render_frame(request, make_config(256)), tmp_path / "frame.fits")
    with fits.open(files.fits_path) as hdul:
        hdul.verify("exception")
        header = hdul[0].header
        data = hdul[0].data
    assert data.shape == (256, 256) and data.dtype.kind in "ui"
    for key in (*REQUIRED, "GAIN", "RDNOISE", "SATURATE", "MJD-OBS"):
        assert key in header, key
    assert header["IMAGETYP"] == request.image_type
    assert header["EXPTIME"] == request.exposure_s
    if request.needs_pointing:
        assert (header["RA"], header["DEC"]) == (request.ra_deg, request.dec_deg)
        assert WCS(header).has_celestial
    else:
        assert "CTYPE1" not in header
    if kind == "light":
        assert (header["REQID"], header["SEQID"], header["PLANID"]) == (7, 11, 13)
        assert header["IMAGEID"] == "S0000011-P0000013-I0002" and header["FRAMENUM"] == 2
        assert header["IVORN"] == IVORN
    if kind == "dome flat":
        assert header["FLATTYPE"] == "dome"


def test_the_same_request_renders_the_same_pixels_and_bytes():
    config = make_config(384)
    request = REQUESTS["light"]
    first = render_frame(request, config)
    _cached_model.cache_clear()  # no help from caches: everything drawn again
    cell_stars.cache_clear()
    second = render_frame(request, config)
    assert np.array_equal(first.data, second.data)
    assert fits_bytes(first) == fits_bytes(second)
    assert first.truth.meta == second.truth.meta
    moved = render_frame(replace(request, start=later(1)), config)
    reseeded = render_frame(replace(request, seed=99), config)
    assert not np.array_equal(first.data, moved.data)
    assert not np.array_equal(first.data, reseeded.data)
    # Identity, not bookkeeping, decides the pixels.
    renamed = render_frame(replace(request, image_id="other", request_id=8), config)
    assert np.array_equal(first.data, renamed.data)


@pytest.mark.parametrize(("instrument", "filter_name", "size", "box"), [
    (VISIBLE, "r", 2048, 11),
    (INFRARED, "J", 2048, 7),
])  # fmt: skip
def test_the_true_wcs_puts_truth_positions_on_the_rendered_centroids(
    instrument, filter_name, size, box
):
    rendered = render_light(make_config(size), instrument=instrument, filter=filter_name)
    truth = rendered.truth
    chosen = isolated_bright_stars(truth, size, size, min_snr=150.0)
    assert len(chosen) >= 8
    x, y = np.asarray(truth["x"])[chosen], np.asarray(truth["y"])[chosen]
    measured = measured_centroids(rendered.data, x, y, box)
    error = np.hypot(measured[:, 0] - x, measured[:, 1] - y)
    assert np.max(error) < 0.05, error
    assert np.median(error) < 0.02  # no systematic offset: what is left is photon noise
    # The WCS stored in the truth maps the true sky positions to the same pixels.
    wcs = WCS(fits.Header(truth.meta["true_wcs"]))
    assert wcs.sip is not None
    px, py = wcs.all_world2pix(truth["ra"][chosen], truth["dec"][chosen], 0, tolerance=1e-8)
    assert np.max(np.hypot(px - x, py - y)) < 1e-4


@pytest.mark.parametrize("error_arcsec", [60.0, 150.0])
def test_the_header_wcs_is_off_by_the_configured_pointing_error(error_arcsec):
    config = make_config(512, pointing_error_arcsec=error_arcsec, pointing_jitter_arcsec=0.0)
    rendered = render_light(config)
    header_wcs = WCS(rendered.header)
    true_wcs = WCS(fits.Header(rendered.truth.meta["true_wcs"]))
    centre = np.array([[255.5, 255.5]])
    from astropy.coordinates import SkyCoord

    head = SkyCoord(*header_wcs.all_pix2world(centre, 0)[0], unit="deg")
    true = SkyCoord(*true_wcs.all_pix2world(centre, 0)[0], unit="deg")
    assert head.separation(true).arcsec == pytest.approx(error_arcsec, abs=0.05)
    assert rendered.truth.meta["pointing"]["error_arcsec"] == pytest.approx(error_arcsec, abs=1e-6)
    # Stars are where the truth says, not where the header says: about the error away.
    stars = rendered.truth[rendered.truth["kind"] == "star"]
    hx, hy = header_wcs.all_world2pix(stars["ra"], stars["dec"], 0)
    shift = np.median(np.hypot(hx - stars["x"], hy - stars["y"])) * 0.38
    assert shift == pytest.approx(error_arcsec, rel=0.1)


def test_jitter_scatters_the_pointing_around_the_error():
    config = make_config(128, pointing_error_arcsec=60.0, pointing_jitter_arcsec=2.0)
    errors = [
        render_light(config, start=later(m)).truth.meta["pointing"]["error_arcsec"]
        for m in range(6)
    ]
    assert all(50 < e < 70 for e in errors) and np.std(errors) > 0.2


def test_star_counts_in_a_frame_follow_the_model():
    config = make_config(2048)
    truth = render_light(config).truth
    stars = truth[(truth["kind"] == "star") & truth["in_frame"]]
    model = StarModel.from_config(config.sky)
    area = (2048 * 0.38 / 3600.0) ** 2
    b = galactic_latitude_deg(FIELD[0], FIELD[1])[0]
    edges = np.arange(12.0, 23.51, 1.5)
    observed, _ = np.histogram(stars["mag"], bins=edges)
    expected = np.array(
        [area * model.counts_per_deg2(lo, hi, b) for lo, hi in itertools.pairwise(edges)]
    )
    pulls = (observed - expected) / np.sqrt(np.maximum(expected, 1.0))
    assert np.all(np.abs(pulls) < 4.0), (observed, expected)
    assert observed.sum() > 300


def test_seeing_varies_over_the_night_and_over_the_field():
    config = make_config(1024, seeing_field_variation=0.1, seeing_night_variation=0.3)
    fwhm = [render_light(config, start=later(20 * k)).truth.meta["conditions"] for k in range(4)]
    values = [c["seeing_fwhm_arcsec"] for c in fwhm]
    assert np.ptp(values) > 0.02
    truth = render_light(config).truth
    stars = truth[truth["kind"] == "star"]
    r = np.hypot(stars["x"] - 511.5, stars["y"] - 511.5) / np.hypot(511.5, 511.5)
    centre = fwhm[0]["seeing_fwhm_px"]
    assert np.allclose(stars["fwhm_px"], centre * (1 + 0.1 * r**2))


def test_clouds_dim_the_stars_and_the_moon_brightens_the_sky():
    config = make_config(256)
    clear = render_light(config).truth
    cloudy = render_light(config, transparency=0.25).truth
    s1, s2 = (t[t["kind"] == "star"] for t in (clear, cloudy))
    common, i1, i2 = np.intersect1d(s1["source_id"], s2["source_id"], return_indices=True)
    assert len(common) > 10
    assert np.allclose(s2["flux_e"][i2], 0.25 * s1["flux_e"][i1])
    # Near full moon (2026-11-24, phase angle ~6°), the moon up, the same field.
    from datetime import UTC, datetime

    moonlit = render_light(config, start=datetime(2026, 11, 24, 7, tzinfo=UTC)).truth.meta
    dark = clear.meta["conditions"]
    assert moonlit["conditions"]["moon_altitude_deg"] > 20
    assert moonlit["conditions"]["sky_e_per_pixel"] > 3 * dark["sky_e_per_pixel"]


def test_sizes_come_from_the_instrument_configuration():
    config = load_config()
    for name, size in ((VISIBLE, 4096), (INFRARED, 2048)):
        frame = render_frame(
            FrameRequest(instrument=name, image_type="bias", start=NIGHT, exposure_s=0.0), config
        )
        assert frame.data.shape == (size, size)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"instrument": "Spectrograph"}, "instrument: 'Spectrograph' is not one of"),
        ({"filter": "J"}, "filter: 'J' is not in the wheel of 'Visible camera'"),
        ({"image_type": "science"}, "image_type: 'science' is not one of"),
        ({"ra_deg": None, "dec_deg": None}, "needs the commanded pointing"),
        ({"dec_deg": 95.0}, "dec_deg: must be within"),
        ({"exposure_s": -1.0}, "exposure_s: must be >= 0"),
        ({"start": NIGHT.replace(tzinfo=None)}, "start: must be timezone-aware"),
        ({"transparency": 2.0}, "transparency: must be within"),
        ({"image_type": "flat", "flat_source": "moon"}, "flat_source: 'moon'"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(changes, message):
    with pytest.raises(FrameRequestError, match=message):
        render_frame(replace(light_request(), **changes), make_config(64))


def test_crowded_fields_stamp_on_two_threads_with_the_same_result(monkeypatch):
    from simulators.sky import psf

    config = make_config(512)
    request = light_request(ra_deg=95.0, dec_deg=25.0)  # b ≈ +5°: a crowded field
    sequential = render_frame(request, config)
    assert np.sum(sequential.truth["kind"] == "star") > 500
    monkeypatch.setattr(psf, "_PARALLEL_PIXELS", 0)
    threaded = [render_frame(request, config) for _ in range(2)]
    assert np.array_equal(threaded[0].data, threaded[1].data)
    # Only the order of float32 sums differs from one thread: at most one ADU here and there.
    difference = np.abs(threaded[0].data.astype(int) - sequential.data.astype(int))
    assert difference.max() <= 1 and np.mean(difference > 0) < 0.01


def test_another_process_renders_the_same_bytes():
    code = (
        "import hashlib\n"
        "from tests.simulators.sky.conftest import make_config\n"
        "from tests.simulators.sky.helpers import render_light\n"
        "from simulators.sky.output import fits_bytes\n"
        "print(hashlib.sha256(fits_bytes(render_light(make_config(256)))).hexdigest())\n"
    )
    root = Path(__file__).resolve().parents[3]
    child = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    here = hashlib.sha256(fits_bytes(render_light(make_config(256)))).hexdigest()
    assert child.stdout.strip() == here
