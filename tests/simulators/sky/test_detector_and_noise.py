"""Photon statistics, calibration frames and saturation, measured on rendered frames."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from astropy.stats import sigma_clipped_stats

from simulators.sky import FrameRequest, detector_model, render_frame
from simulators.sky.noise import bleed, expose
from tests.simulators.sky.conftest import NIGHT, make_config
from tests.simulators.sky.helpers import INFRARED, VISIBLE, later, light_request

SIZE = 512


def _instrument(config, name):
    return config.instrument(name)


def _good_pixels(config, name, filter_name=None):
    """Mask of pixels that are neither hot, dead, nor in a dead column (from the truth)."""
    instrument = _instrument(config, name)
    model = detector_model(config.sky, instrument, config.sky.seed)
    good = np.ones((instrument.height, instrument.width), dtype=bool)
    good.reshape(-1)[model.hot_index] = False
    good.reshape(-1)[model.dead_index] = False
    good[:, model.dead_columns] = False
    return good, model


def _flat(config, when, exposure_s):
    request = FrameRequest(
        instrument=VISIBLE, image_type="flat", start=when, exposure_s=exposure_s, filter="r",
        flat_source="dome",
    )  # fmt: skip
    return render_frame(request, config)


@pytest.mark.parametrize("exposure_s", [2.0, 8.0])
def test_photon_transfer_on_a_pair_of_flats_gives_the_gain_and_read_noise(exposure_s):
    config = make_config(SIZE)
    instrument = _instrument(config, VISIBLE)
    gain, read_noise = instrument.gain_e_per_adu, instrument.read_noise_e
    good, model = _good_pixels(config, VISIBLE)
    a = _flat(config, NIGHT, exposure_s)
    b = _flat(config, later(1), exposure_s)
    bias = model.bias_map_adu
    signal = 0.5 * ((a.data - bias) + (b.data - bias))[good]
    difference = (a.data.astype(float) - b.data.astype(float))[good]
    _, _, sigma = sigma_clipped_stats(difference, sigma=5.0)
    measured_variance = sigma**2 / 2.0
    mean_signal_adu = float(np.mean(signal))
    expected = mean_signal_adu / gain + (read_noise / gain) ** 2 + 1.0 / 12.0
    assert measured_variance == pytest.approx(expected, rel=0.03)
    # The photon-transfer gain itself, from the same pair.
    ptc_gain = mean_signal_adu / (measured_variance - (read_noise / gain) ** 2 - 1.0 / 12.0)
    assert ptc_gain == pytest.approx(gain, rel=0.03)
    assert mean_signal_adu * gain > 5000  # a real flat level, not read-noise dominated


def test_a_bias_pair_gives_the_read_noise_and_the_bias_pattern():
    config = make_config(SIZE)
    instrument = _instrument(config, INFRARED)
    good, model = _good_pixels(config, INFRARED)
    frames = [
        render_frame(
            FrameRequest(instrument=INFRARED, image_type="bias", start=later(k), exposure_s=0.0),
            config,
        ).data.astype(float)
        for k in range(2)
    ]
    _, _, sigma = sigma_clipped_stats((frames[0] - frames[1])[good], sigma=5.0)
    read_noise_adu = instrument.read_noise_e / instrument.gain_e_per_adu
    assert sigma**2 / 2.0 == pytest.approx(read_noise_adu**2 + 1.0 / 12.0, rel=0.03)
    mean = 0.5 * (frames[0] + frames[1])
    # Column pattern: the column means follow the truth's pattern (to the noise of a column).
    columns = mean.mean(axis=0) - instrument.bias_adu
    truth = model.column_pattern_adu
    assert np.std(columns - truth) < 3 * read_noise_adu / np.sqrt(2 * SIZE)
    assert np.std(truth) == pytest.approx(config.sky.bias_column_sigma_adu, rel=0.2)


def test_a_dark_shows_the_dark_current_and_the_hot_pixels():
    config = make_config(SIZE)
    instrument = _instrument(config, INFRARED)
    good, model = _good_pixels(config, INFRARED)
    exposure = 900.0
    dark = render_frame(
        FrameRequest(instrument=INFRARED, image_type="dark", start=NIGHT, exposure_s=exposure),
        config,
    )
    electrons = (dark.data - model.bias_map_adu) * instrument.gain_e_per_adu
    mean, _, _ = sigma_clipped_stats(electrons[good], sigma=5.0)
    expected = instrument.dark_current_e_s * exposure
    assert mean == pytest.approx(expected, rel=0.03)
    hot = electrons.reshape(-1)[model.hot_index]
    assert len(hot) > 0
    assert np.all(hot > 0.5 * model.hot_dark_e_s * exposure)
    assert dark.truth.meta["detector"]["hot_pixels"]


def test_small_expectations_get_exact_poisson_counts():
    rate = 0.3
    counts = expose(
        None, None, rate, np.empty(0, dtype=int), np.empty(0), (400, 500), 0.0, ("poisson-test",)
    )
    assert np.array_equal(counts, np.rint(counts))  # whole electrons
    assert counts.mean() == pytest.approx(rate, rel=0.02)
    assert counts.var() == pytest.approx(rate, rel=0.03)
    assert np.mean(counts == 0) == pytest.approx(np.exp(-rate), rel=0.01)
    light = np.full((300, 300), 4.0, dtype=np.float32)
    light[:, 150:] = 400.0
    noisy = expose(light, None, 0.0, np.empty(0, dtype=int), np.empty(0), (300, 300), 0.0, ("mix",))
    low, high = noisy[:, :150], noisy[:, 150:]
    assert np.array_equal(low, np.rint(low))
    assert low.mean() == pytest.approx(4.0, rel=0.02) and low.var() == pytest.approx(4.0, rel=0.05)
    assert high.mean() == pytest.approx(400.0, rel=0.01)
    assert high.var() == pytest.approx(400.0, rel=0.05)


def test_bleeding_spills_charge_along_the_column_and_conserves_it():
    frame = np.full((200, 5), 100.0, dtype=np.float32)
    frame[100, 2] = 1_000_000.0
    total = frame.sum()
    assert bleed(frame, 50_000.0) == 1
    assert frame.max() <= 50_000.0
    assert frame.sum() == pytest.approx(total, rel=1e-6)
    # 950,000 e- spill, half each way; each well takes 49,900 more: 9 full wells per side, the
    # tenth partly filled, symmetric about the source.
    full = np.flatnonzero(frame[:, 2] >= 50_000.0)
    assert list(full) == list(range(91, 110))
    assert frame[90, 2] == pytest.approx(frame[110, 2]) and 100 < frame[90, 2] < 50_000
    assert np.array_equal(frame[:, 0], np.full(200, 100.0, dtype=np.float32))


def test_a_saturated_star_is_flagged_flat_topped_and_bleeds():
    config = make_config(512)  # the pointing error (60") leaves the commanded centre inside
    instrument = _instrument(config, VISIBLE)
    from simulators.sky import Afterglow

    bright = Afterglow(60.0, 10.0, later(-2), mag_t0=8.5, alpha=0.0)
    rendered = render_frame(light_request(afterglows=(bright,)), config)
    row = rendered.truth[rendered.truth["kind"] == "afterglow"][0]
    assert row["saturated"]
    x, y = round(row["x"]), round(row["y"])
    column = rendered.data[:, x]
    saturated = np.flatnonzero(column >= instrument.saturation_adu)
    assert y in saturated
    # The trail along the column is much longer than the core across the row.
    across = np.sum(rendered.data[y, :] >= instrument.saturation_adu)
    assert len(saturated) > 2 * across
    assert rendered.truth.meta["bleeding_columns"] >= 1


def test_flats_carry_vignetting_and_dust_donuts_of_their_filter():
    config = make_config(SIZE, dust_donuts=4, dust_donut_depth=0.05, dust_donut_radius_px=30)
    instrument = _instrument(config, VISIBLE)
    _, model = _good_pixels(config, VISIBLE)
    frames = [_flat(config, later(k), 10.0) for k in range(4)]
    level = frames[0].truth.meta["conditions"]["lamp_e_per_pixel"]
    electrons = np.mean([(f.data - model.bias_map_adu) for f in frames], axis=0)
    electrons *= instrument.gain_e_per_adu
    response = electrons / level
    truth_flat = model.flat("r")
    # Large scale: the measured response follows the true flat (vignetting + lamp gradient).
    smooth = response[::32, ::32]
    expected = truth_flat[::32, ::32]
    assert np.corrcoef(smooth.ravel(), expected.ravel())[0, 1] > 0.9
    corner, centre = response[:40, :40].mean(), response[236:276, 236:276].mean()
    assert corner / centre == pytest.approx(1 - config.sky.vignetting * 0.85, abs=0.03)
    # Each donut dims its ring by about its depth.
    for donut in model.donuts("r"):
        cx, cy = donut["x"], donut["y"]
        r = 0.5 * (donut["r_inner"] + donut["r_outer"])
        if not (r + 5 < cx < SIZE - r - 5 and r + 5 < cy < SIZE - r - 5):
            continue
        ring = response[int(cy), int(cx + r)], response[int(cy), int(cx - r)]
        assert (
            truth_flat[int(cy), int(cx + r)] < truth_flat[int(cy), int(cx)] - 0.5 * donut["depth"]
        )
        assert np.mean(ring) < response[int(cy), int(cx)]
    other = model.donuts("g")
    assert [d["x"] for d in other] != [d["x"] for d in model.donuts("r")]


def test_twilight_flats_follow_the_sun_and_a_closed_dome_sees_nothing():
    config = make_config(128)
    levels = []
    for minutes_after_sunset in (20.0, 30.0, 40.0):
        # Sunset at San Pedro Mártir on 2026-12-09 is near 00:45 UTC.
        from datetime import UTC, datetime, timedelta

        when = datetime(2026, 12, 9, 0, 45, tzinfo=UTC) + timedelta(minutes=minutes_after_sunset)
        flat = render_frame(light_request(image_type="flat", start=when, exposure_s=1.0), config)
        levels.append(flat.truth.meta["conditions"]["sky_e_per_pixel"])
    assert levels[0] > levels[1] > levels[2] > 0
    closed = render_frame(replace(light_request(), dome_open=False), config)
    assert not np.any(closed.truth["kind"] == "star")
    assert np.median(closed.data) < config.instrument(VISIBLE).bias_adu + 20


def _coarse_infrared(ramp_read_s):
    """The infrared camera with pixels 4× coarser (16× the sky per pixel, as a simulated night's
    small frames), read up the ramp every ``ramp_read_s`` (None: once, as a CCD)."""
    config = make_config(128)
    data = config.model_dump(mode="json")
    for instrument in data["instruments"]:
        if instrument["name"] == INFRARED:
            instrument["pixel_scale_arcsec"] *= 4.0
            instrument["ramp_read_s"] = ramp_read_s
    from infra.config import parse_config

    return parse_config(data, "test-ramp")


def test_an_infrared_ramp_keeps_a_bright_sky_that_one_read_would_saturate():
    request = light_request(instrument=INFRARED, filter="J", exposure_s=30.0)
    single = render_frame(request, _coarse_infrared(None))
    ramp = render_frame(request, _coarse_infrared(1.33))
    instrument = _coarse_infrared(1.33).instrument(INFRARED)
    sky_e = ramp.truth.meta["conditions"]["sky_e_per_pixel"]
    full_e = (instrument.saturation_adu - instrument.bias_adu) * instrument.gain_e_per_adu
    assert sky_e > 2 * full_e  # the sky alone would fill every pixel of one read
    assert np.mean(single.data >= single.header["SATURATE"]) > 0.99
    # Up the ramp: the slope times the exposure, the sky level as expected, unsaturated, noisier
    # than photon noise by sqrt(reads / reads kept).
    assert ramp.data.dtype == np.int32
    assert ramp.header["SATURATE"] == pytest.approx(
        instrument.bias_adu + full_e * 30.0 / 1.33 / instrument.gain_e_per_adu
    )
    assert np.mean(ramp.data >= ramp.header["SATURATE"]) < 0.01
    level_e = (np.median(ramp.data) - instrument.bias_adu) * instrument.gain_e_per_adu
    assert level_e == pytest.approx(sky_e, rel=0.05)  # the flat field (vignetting) within 5 %
    again = render_frame(replace(request, start=later(1)), _coarse_infrared(1.33))
    _, _, sigma = sigma_clipped_stats((ramp.data.astype(float) - again.data) / np.sqrt(2.0))
    reads, kept = 30.0 / 1.33, np.floor(full_e / (sky_e / (30.0 / 1.33)))
    expected = np.sqrt(sky_e * reads / kept) / instrument.gain_e_per_adu
    assert sigma == pytest.approx(expected, rel=0.2)
    assert ramp.truth.meta["ramp"]["pixels_saturated"] < 0.01 * ramp.data.size


def test_a_ramp_saturates_a_pixel_that_fills_within_one_read():
    config = _coarse_infrared(1.33)
    instrument = config.instrument(INFRARED)
    frame = render_frame(light_request(instrument=INFRARED, filter="H", exposure_s=30.0), config)
    stars = frame.truth[(frame.truth["kind"] == "star") & frame.truth["saturated"]]
    assert len(stars)  # the brightest stars of the field fill a pixel within one read
    for star in stars:
        x, y = int(np.rint(star["x"])), int(np.rint(star["y"]))
        assert frame.data[y, x] == pytest.approx(frame.header["SATURATE"], abs=1.0)
    assert frame.header["SATURATE"] > instrument.saturation_adu
