"""Previews: a FITS frame becomes a PNG of the asked size, stretched, its candidates circled."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from tasks.controlroom.previews import (
    CIRCLE_RGB,
    PreviewError,
    normalized,
    preview_of_file,
    preview_size,
    read_frame,
    render_preview,
)

ROWS, COLUMNS = 100, 200


def _sky(stars: list[tuple[float, float]] = ()) -> np.ndarray:
    """A noisy sky (rows, columns) with Gaussian stars at (x, y), 0-based."""
    rng = np.random.default_rng(21)
    image = rng.normal(1000.0, 10.0, (ROWS, COLUMNS))
    yy, xx = np.mgrid[0:ROWS, 0:COLUMNS]
    for x, y in stars:
        image += 5000.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5**2))
    return image.astype(np.float32)


def _png(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


@pytest.mark.parametrize("stretch", ["zscale", "asinh"])
def test_a_frame_becomes_a_png_of_the_asked_size_and_not_constant(stretch):
    picture = _png(render_preview(_sky([(50, 50)]), size_px=64, stretch=stretch))
    assert picture.format == "PNG" and picture.mode == "RGB"
    assert picture.size == (64, 32)  # longest side asked, aspect kept
    grey = np.asarray(picture.convert("L"), dtype=float)
    assert grey.std() > 5
    assert grey.max() == 255  # the star saturates the stretch


def test_the_frame_is_shown_with_row_zero_at_the_bottom():
    picture = render_preview(_sky([(100, 10)]), size_px=200, stretch="asinh")
    grey = np.asarray(_png(picture).convert("L"), dtype=float)
    rows, columns = np.nonzero(grey > 200)
    assert abs(np.median(rows) - (ROWS - 1 - 10)) <= 1 and abs(np.median(columns) - 100) <= 1


def test_a_candidate_is_circled_at_its_position():
    data = _sky([(150, 70)])
    plain = np.asarray(_png(render_preview(data, size_px=200)), dtype=int)
    circled = np.asarray(
        _png(render_preview(data, [{"x": 150, "y": 70, "snr": 9}], size_px=200)), dtype=int
    )
    changed = np.argwhere(np.any(plain != circled, axis=2))
    assert len(changed) > 20
    rows, columns = changed[:, 0], changed[:, 1]
    # The circle surrounds the candidate (at column 150, row 100 - 1 - 70 from the top).
    assert abs(columns.mean() - 150) < 2 and abs(rows.mean() - (ROWS - 1 - 70)) < 2
    assert {tuple(circled[r, c]) for r, c in changed} == {CIRCLE_RGB}
    # Elsewhere nothing changed.
    assert np.abs(columns - 150).max() <= 12 and np.abs(rows - (ROWS - 1 - 70)).max() <= 12


def test_candidates_without_a_position_are_skipped():
    data = _sky()
    assert render_preview(data, [{"ra": 1.0}], size_px=50) == render_preview(data, size_px=50)


def test_a_fits_file_is_read_from_its_first_image(tmp_path):
    path = tmp_path / "frame.fits"
    data = _sky([(20, 20)])
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data)]).writeto(path)
    assert np.array_equal(read_frame(path), data)
    picture = _png(preview_of_file(path, [{"x": 20, "y": 20}], size_px=100))
    assert picture.size == (100, 50)


@pytest.mark.parametrize(
    "data, message",
    [
        (np.zeros((3, 4, 5)), "2-D image"),
        (np.full((10, 10), np.nan), "no finite pixel"),
    ],
)
def test_what_is_not_an_image_is_refused_with_its_reason(data, message):
    with pytest.raises(PreviewError, match=message):
        render_preview(data)


def test_an_unknown_stretch_and_a_bad_size_are_refused():
    with pytest.raises(PreviewError, match="unknown stretch 'log'"):
        normalized(_sky(), "log")  # type: ignore[arg-type]
    with pytest.raises(PreviewError, match="size_px"):
        preview_size((10, 10), 0)


def test_a_file_that_is_not_fits_is_refused_naming_it(tmp_path):
    path = tmp_path / "frame.fits"
    path.write_text("not a FITS file")
    with pytest.raises(PreviewError, match=r"frame\.fits"):
        read_frame(path)
    empty = tmp_path / "empty.fits"
    fits.PrimaryHDU().writeto(empty)
    with pytest.raises(PreviewError, match="no 2-D image"):
        read_frame(empty)


def test_nan_pixels_are_shown_black_and_the_rest_stretched():
    data = _sky([(50, 50)])
    data[0:10, 0:10] = np.nan
    levels = normalized(data)
    assert levels[0:10, 0:10].max() == 0.0 and levels.max() == 1.0


def test_a_large_frame_is_binned_and_its_candidate_still_circled_in_place():
    rng = np.random.default_rng(5)
    data = rng.normal(500.0, 8.0, (1600, 2400)).astype(np.float32)
    plain = np.asarray(_png(render_preview(data, size_px=300)), dtype=int)
    circled = np.asarray(
        _png(render_preview(data, [{"x": 1800.0, "y": 400.0}], size_px=300)), dtype=int
    )
    assert plain.shape == (200, 300, 3)
    changed = np.argwhere(np.any(plain != circled, axis=2))
    # 2400 columns over 300: x = 1800 at column 225; y = 400 at row 200 - 50 = 150 from the top.
    assert abs(changed[:, 1].mean() - 225) < 1.5 and abs(changed[:, 0].mean() - 150) < 1.5


def test_a_frame_of_the_sky_renderer_shows_its_brightest_star(tmp_path):
    from datetime import timedelta

    from simulators.sky import read_truth
    from tests.support.nrt_sky import NIGHT, FrameMaker, sky_config

    maker = FrameMaker(sky_config(256), tmp_path)
    path = maker.light("sky", 30.0, 20.0, NIGHT + timedelta(minutes=1))
    truth = read_truth(path)
    inside = truth[(truth["x"] > 20) & (truth["x"] < 236) & (truth["y"] > 20) & (truth["y"] < 236)]
    star = inside[np.argmax(inside["flux_landed_e"])]
    picture = _png(preview_of_file(path, [{"x": star["x"], "y": star["y"]}], size_px=256))
    assert picture.size == (256, 256)
    levels = np.asarray(_png(preview_of_file(path, size_px=256)).convert("L"), dtype=float)
    row, column = round(255 - star["y"]), round(star["x"])
    assert levels[row, column] > np.median(levels) + 50  # the star stands out of the sky
    rgb = np.asarray(picture, dtype=int)
    assert any(
        tuple(rgb[row + dr, column + dc]) == (255, 48, 48)
        for dr in range(-10, 11)
        for dc in range(-10, 11)
    )
