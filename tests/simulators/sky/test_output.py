"""Writing frames: truth then FITS, both atomic, nothing half-written, the truth readable."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from simulators.sky import read_truth, truth_path_for, write_frame
from tests.simulators.sky.conftest import make_config
from tests.simulators.sky.helpers import render_light


def test_truth_and_fits_land_atomically_with_their_checksum(tmp_path):
    rendered = render_light(make_config(256))
    target = tmp_path / "night" / "S0000001-P0000001-I0000.fits"
    files = write_frame(rendered, target)
    assert files.fits_path == target and files.truth_path == target.with_name(
        "S0000001-P0000001-I0000.truth.ecsv"
    )
    payload = target.read_bytes()
    assert hashlib.sha256(payload).hexdigest() == files.sha256
    assert len(payload) == files.size_bytes
    assert sorted(os.listdir(target.parent)) == sorted([target.name, files.truth_path.name])
    with fits.open(target) as hdul:
        hdul.verify("exception")
        assert (hdul[0].data == rendered.data).all()
    truth = read_truth(target)
    assert len(truth) == len(rendered.truth)
    for name in rendered.truth.colnames:
        written, original = np.asarray(truth[name]), np.asarray(rendered.truth[name])
        nan = original.dtype.kind == "f"
        assert np.array_equal(written, original, equal_nan=nan), name
    assert truth.meta["pointing"] == rendered.truth.meta["pointing"]
    assert WCS(fits.Header(truth.meta["true_wcs"])).sip is not None
    # Writing again replaces both files whole.
    again = write_frame(render_light(make_config(256), exposure_s=10.0), target)
    assert again.sha256 != files.sha256
    assert sorted(os.listdir(target.parent)) == sorted([target.name, files.truth_path.name])


def test_names_with_spaces_and_empty_truths_round_trip(tmp_path):
    from simulators.sky import Afterglow
    from tests.simulators.sky.helpers import later

    glow = Afterglow(59.994, 9.994, later(-5), 15.0, name='GRB 261209A "bright"')
    rendered = render_light(make_config(512), afterglows=(glow,))
    write_frame(rendered, tmp_path / "a.fits")
    truth = read_truth(tmp_path / "a.fits")
    assert 'GRB 261209A "bright"' in list(truth["name"])
    from simulators.sky import FrameRequest, render_frame
    from tests.simulators.sky.conftest import NIGHT

    bias = render_frame(
        FrameRequest(instrument="Visible camera", image_type="bias", start=NIGHT, exposure_s=0),
        make_config(64),
    )
    write_frame(bias, tmp_path / "b.fits")
    assert len(read_truth(tmp_path / "b.fits")) == 0


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    rendered = render_light(make_config(64))
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    with pytest.raises(OSError):
        write_frame(rendered, blocker / "frame.fits")
    assert os.listdir(tmp_path) == ["not-a-directory"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.fits", "a.truth.ecsv"), ("b.FIT", "b.truth.ecsv"), ("c.fts", "c.truth.ecsv")],
)
def test_the_truth_sits_beside_the_frame(name, expected, tmp_path):
    assert truth_path_for(tmp_path / name) == tmp_path / expected
