"""Bad calibration frames: a clear reason each, the master from what is valid, nothing crashes."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from tasks.calibration.masters import MasterRef, MasterSpec, build_master
from tests.tasks.calibration.helpers import (
    NIGHT_LABEL,
    VISIBLE,
    Renderer,
    edit_header,
    small_config,
    truncate,
)


def _flat_build(bank, paths, **kw):
    config = bank.config
    instrument = config.instrument(VISIBLE)
    bias = build_master(MasterSpec("bias", instrument, NIGHT_LABEL), bank.vis_biases,
                        config=config.calibration)  # fmt: skip
    ref = MasterRef(1, "bias", "bias.fits", NIGHT_LABEL, bias.data)
    return build_master(MasterSpec("flat", instrument, NIGHT_LABEL, bias=ref, **kw), paths,
                        config=config.calibration)  # fmt: skip


def test_a_flat_set_with_bad_frames_is_built_from_the_valid_ones(bank, tmp_path):
    good = bank.dome_r[:6]
    truncated = truncate(bank.dome_r[6], tmp_path / "truncated.fits")
    other = Renderer(small_config(128), tmp_path)
    wrong_size = other.dome_flats(1)[0]
    no_exptime = edit_header(bank.dome_r[6], tmp_path / "no-exptime.fits", remove=("EXPTIME",))
    other_filter = bank.dome_g[0]
    not_fits = tmp_path / "notes.fits"
    not_fits.write_text("not a FITS file")
    missing = tmp_path / "gone.fits"
    build = _flat_build(
        bank,
        [*good, truncated, wrong_size, no_exptime, other_filter, not_fits, missing],
        filter_name="r",
    )
    assert build.ok, build.reason
    assert len(build.frames) == 6
    reasons = {item["path"]: item["reason"] for item in build.rejected}
    assert "truncated" in reasons[str(truncated)]
    assert "128x128 pixels, the camera gives 256x256" in reasons[str(wrong_size)]
    assert "missing keyword EXPTIME" in reasons[str(no_exptime)]
    assert "FILTER is 'g', the set is 'r'" in reasons[str(other_filter)]
    assert "not a readable FITS file" in reasons[str(not_fits)]
    assert "no such file" in reasons[str(missing)]
    assert all(reason.startswith(path) for path, reason in reasons.items())


def test_mixed_filters_without_a_filter_keep_the_majority(bank):
    build = _flat_build(bank, [*bank.dome_r[:5], *bank.dome_g])
    assert build.ok and build.filter == "r" and len(build.frames) == 5
    assert (
        sorted(r["reason"].split(": ", 1)[1] for r in build.rejected)
        == ["FILTER is 'g', the set is 'r'"] * 2
    )


def test_fewer_frames_than_the_minimum_fail_with_the_reason(bank, tmp_path):
    config = bank.config
    build = build_master(MasterSpec("bias", config.instrument(VISIBLE), NIGHT_LABEL),
                         bank.vis_biases[:3], config=config.calibration)  # fmt: skip
    assert not build.ok and build.data is None
    assert build.reason == "3 valid bias frame(s) of 3, at least 5 needed"
    flat = _flat_build(bank, bank.dome_g, filter_name="g")
    assert not flat.ok and "2 valid flat frame(s) of 2, at least 5 needed" in flat.reason


def test_frames_of_the_wrong_kind_camera_or_level_are_rejected(bank, tmp_path):
    config = bank.config
    dark_as_bias = bank.vis_darks[0]
    infrared = bank.ir_biases[0]
    blank = tmp_path / "blank.fits"
    with fits.open(bank.vis_biases[0]) as hdul:
        header = hdul[0].header.copy()
    fits.PrimaryHDU(np.full((256, 256), 1000, dtype=np.uint16), header).writeto(blank)
    build = build_master(
        MasterSpec("bias", config.instrument(VISIBLE), NIGHT_LABEL),
        [*bank.vis_biases[:5], dark_as_bias, infrared, blank], config=config.calibration,
    )  # fmt: skip
    assert build.ok and len(build.frames) == 5
    reasons = {item["path"]: item["reason"] for item in build.rejected}
    assert "IMAGETYP is 'dark', not 'bias'" in reasons[str(dark_as_bias)]
    assert "INSTRUME is 'Infrared camera', not 'Visible camera'" in reasons[str(infrared)]
    assert "a blank frame" in reasons[str(blank)]
    # A flat far too faint (a bias posing as a flat) is rejected for its level.
    faint = edit_header(bank.vis_biases[0], tmp_path / "faint.fits", IMAGETYP="flat",
                        EXPTIME=1.0, FILTER="r", FLATTYPE="dome")  # fmt: skip
    flat = _flat_build(bank, [*bank.dome_r[:5], faint], filter_name="r")
    assert (
        flat.ok
        and "outside the usable" in {r["path"]: r["reason"] for r in flat.rejected}[str(faint)]
    )


def test_a_dark_or_flat_without_a_bias_master_fails_clearly(bank):
    config = bank.config
    build = build_master(MasterSpec("dark", config.instrument(VISIBLE), NIGHT_LABEL),
                         bank.vis_darks, config=config.calibration)  # fmt: skip
    assert not build.ok and "no master bias" in build.reason
