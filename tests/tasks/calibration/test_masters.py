"""Masters against the renderer's truth of its calibration parameters (the acceptance of the
calibration masters)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.stats import sigma_clipped_stats

from simulators.sky import read_truth
from tasks.calibration.masterfiles import read_master, write_master
from tasks.calibration.masters import MasterRef, MasterSpec, build_master
from tasks.calibration.science import MasterCache, UsedMaster, calibrate_frame
from tests.tasks.calibration.helpers import (
    INFRARED,
    NIGHT,
    NIGHT_LABEL,
    VISIBLE,
    block_medians,
    large_scale_range,
)


def _build(renderer, kind, paths, camera=VISIBLE, **kw):
    config = renderer.config
    return build_master(
        MasterSpec(kind, config.instrument(camera), NIGHT_LABEL, **kw), paths,
        config=config.calibration,
    )  # fmt: skip


def _ref(build, kind, ident=1):
    return MasterRef(ident, kind, f"/masters/{kind}.fits", NIGHT_LABEL, build.data, build.bpm,
                     build.exposure_s, build.filter, build.flat_source)  # fmt: skip


def _good(model, shape):
    good = np.ones(shape, dtype=bool)
    good.reshape(-1)[model.hot_index] = False
    good.reshape(-1)[model.dead_index] = False
    good[:, model.dead_columns] = False
    return good


def test_master_bias_level_and_pattern_are_within_read_noise_over_root_n(bank):
    instrument = bank.config.instrument(VISIBLE)
    n = len(bank.vis_biases)
    build = _build(bank, "bias", bank.vis_biases)
    assert build.ok, build.reason
    truth = bank.model().bias_map_adu
    residual = build.data - truth
    read_noise_adu = instrument.read_noise_e / instrument.gain_e_per_adu
    per_pixel = np.sqrt(read_noise_adu**2 + 1 / 12) / np.sqrt(n)  # digitisation included
    # Level: the mean residual is far inside read-noise/sqrt(N).
    assert abs(float(residual.mean())) < 0.1 * per_pixel
    # Pattern: the column pattern is the truth's to read-noise/sqrt(N * rows).
    columns = residual.mean(axis=0)
    assert np.std(columns) < 2 * per_pixel / np.sqrt(residual.shape[0])
    # Pixel by pixel: the master's own noise is read-noise/sqrt(N) (clipping costs < 10 %).
    assert per_pixel * 0.95 < float(np.std(residual)) < per_pixel * 1.10
    assert build.quality["level_adu"] == pytest.approx(instrument.bias_adu, abs=0.5)


def test_master_dark_current_is_within_three_percent_of_truth(bank):
    instrument = bank.config.instrument(INFRARED)
    bias = _build(bank, "bias", bank.ir_biases, INFRARED)
    dark = _build(bank, "dark", bank.ir_darks, INFRARED, bias=_ref(bias, "bias"))
    assert dark.ok, dark.reason
    assert dark.exposure_s == 300.0
    model = bank.model(INFRARED)
    good = _good(model, dark.data.shape)
    rate = dark.data * instrument.gain_e_per_adu / dark.exposure_s
    mean, _, _ = sigma_clipped_stats(rate[good], sigma=5.0)
    assert mean == pytest.approx(instrument.dark_current_e_s, rel=0.03)
    assert dark.quality["dark_current_e_s"] == pytest.approx(instrument.dark_current_e_s, rel=0.03)
    # Hot pixels: each one's dark current, and every one of them in the bad-pixel mask.
    hot = rate.reshape(-1)[model.hot_index]
    assert len(hot) >= 10
    assert np.median(hot / (model.hot_dark_e_s + instrument.dark_current_e_s)) == pytest.approx(
        1.0, rel=0.03
    )
    assert dark.bpm.reshape(-1)[model.hot_index].all()
    true_hot = np.zeros(dark.bpm.shape, dtype=bool)
    true_hot.reshape(-1)[model.hot_index] = True
    assert np.count_nonzero(dark.bpm & ~true_hot) == 0  # noise never makes a hot pixel
    # Cosmic rays in single darks are clipped away: nothing far above the dark elsewhere.
    assert np.percentile(rate[good], 99.99) < instrument.dark_current_e_s + 0.5


def test_twilight_flats_give_the_true_flat_without_stars_and_flatten_frames(flat_bank):
    bias = _build(flat_bank, "bias", flat_bank.vis_biases)
    dark = _build(flat_bank, "dark", flat_bank.vis_darks, bias=_ref(bias, "bias"))
    flat = _build(flat_bank, "flat", flat_bank.twilight_r, filter_name="r",
                  bias=_ref(bias, "bias"), dark=_ref(dark, "dark", 2))  # fmt: skip
    assert flat.ok, flat.reason
    assert flat.flat_source == "twilight" and flat.filter == "r"
    model = flat_bank.model()
    truth = np.asarray(model.flat("r"), dtype=float)
    good = _good(model, truth.shape)
    ratio = flat.data / truth
    ratio /= np.median(ratio[good])
    # Large scale: the master follows the true flat (vignetting, donuts) to well under 0.5 %.
    assert large_scale_range(ratio, 32, ~good) < 0.005
    # Stars: every input had stars (dithered); none is left in the master.
    stars_seen = 0
    for path in flat_bank.twilight_r:
        truth_table = read_truth(path)
        level = truth_table.meta["conditions"]["sky_e_per_pixel"]
        bright = truth_table[(truth_table["kind"] == "star") & truth_table["in_frame"]
                             & (truth_table["peak_e"] > 0.2 * level)]  # fmt: skip
        for row in bright:
            x, y = round(row["x"]), round(row["y"])
            if 2 <= x < truth.shape[1] - 2 and 2 <= y < truth.shape[0] - 2:
                stars_seen += 1
                assert abs(np.median(ratio[y - 1 : y + 2, x - 1 : x + 2]) - 1) < 0.015
    assert stars_seen >= 3, "the test field must show stars in the twilight flats"
    # The dead pixels and columns are in the mask.
    assert flat.bpm[:, model.dead_columns].all()

    # A twilight flat not used for the master, calibrated: flat to <= 0.5 % at large scale.
    cache = MasterCache()
    used = {"bias": UsedMaster(_ref(bias, "bias")), "dark": UsedMaster(_ref(dark, "dark", 2)),
            "flat": UsedMaster(_ref(flat, "flat", 3))}  # fmt: skip
    check = calibrate_frame(flat_bank.twilight_check[0], used, cache=cache)
    mask = check.ccd.mask
    assert large_scale_range(check.ccd.data, 32, mask) <= 0.005
    # Most of what is left is the sky's own gradient (0.2 %, in the truth): without it, < 0.3 %.
    gradient = read_truth(flat_bank.twilight_check[0]).meta["conditions"]["sky_gradient"]
    size = check.ccd.data.shape[0]
    centred = (np.arange(size) - (size - 1) / 2.0) / size
    sky = 1 + gradient["gx"] * centred[None, :] + gradient["gy"] * centred[:, None]
    assert large_scale_range(check.ccd.data / sky, 32, mask) < 0.003
    raw_range = large_scale_range(
        calibrate_frame(flat_bank.twilight_check[0], {"bias": used["bias"]}, cache=cache).ccd.data,
        32, mask,
    )  # fmt: skip
    assert raw_range > 0.05  # vignetting (8 %) was there before the flat


def test_dust_donuts_are_removed_by_the_flat(flat_bank):
    bias = _build(flat_bank, "bias", flat_bank.vis_biases)
    flat = _build(flat_bank, "flat", flat_bank.twilight_r, filter_name="r", bias=_ref(bias, "bias"))
    cache = MasterCache()
    used = {"bias": UsedMaster(_ref(bias, "bias")), "flat": UsedMaster(_ref(flat, "flat", 3))}
    path = flat_bank.twilight_check[0]
    calibrated = calibrate_frame(path, used, cache=cache).ccd.data
    uncorrected = calibrate_frame(path, {"bias": used["bias"]}, cache=cache).ccd.data
    checked = 0
    size = calibrated.shape[0]
    for donut in flat_bank.model().donuts("r"):
        cx, cy, inner, outer = donut["x"], donut["y"], donut["r_inner"], donut["r_outer"]
        if not (outer + 12 < cx < size - outer - 12 and outer + 12 < cy < size - outer - 12):
            continue
        yy, xx = np.mgrid[:size, :size]
        r = np.hypot(xx - cx, yy - cy)
        ring = (r > inner + 1) & (r < outer - 1)
        around = (r > outer + 3) & (r < outer + 10)

        def dip(image, ring=ring, around=around):
            return float(np.median(image[ring]) / np.median(image[around]) - 1)

        assert dip(uncorrected) < -0.4 * donut["depth"]  # the donut is in the raw frame
        assert abs(dip(calibrated)) < 0.002  # and gone after the flat
        checked += 1
    assert checked >= 1, "no donut inside the test frame"


def test_dome_flats_carry_the_lamp_gradient_and_miss_the_flatness_goal(flat_bank):
    bias = _build(flat_bank, "bias", flat_bank.vis_biases)
    dome = _build(flat_bank, "flat", flat_bank.dome_r, filter_name="r", bias=_ref(bias, "bias"))
    assert dome.ok and dome.flat_source == "dome"
    cache = MasterCache()
    used = {"bias": UsedMaster(_ref(bias, "bias")), "flat": UsedMaster(_ref(dome, "flat", 4))}
    check = calibrate_frame(flat_bank.twilight_check[0], used, cache=cache)
    # The fixed 1 % lamp gradient is in the master: a sky frame is left with it (> 0.5 %).
    assert large_scale_range(check.ccd.data, 32, check.ccd.mask) > 0.006
    medians = block_medians(dome.data / flat_bank.model().flat("r"), 64)
    assert (medians.max() - medians.min()) / np.median(medians) > 0.006


def test_master_files_round_trip_and_are_written_atomically(bank, tmp_path):
    build = _build(bank, "bias", bank.vis_biases)
    path, sha256 = write_master(build, tmp_path, NIGHT)
    assert path.parent == tmp_path / NIGHT_LABEL / "Visible_camera"
    assert not list(path.parent.glob(".*.tmp"))
    loaded = read_master(path, id=7)
    assert loaded.id == 7 and loaded.kind == "bias" and loaded.night == NIGHT_LABEL
    assert np.array_equal(loaded.data, build.data) and not loaded.data.flags.writeable
    assert loaded.header["NCOMBINE"] == 10 and loaded.header["IMCMB001"].startswith("bias-")
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
