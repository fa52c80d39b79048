"""Frames rendered once per test session (small cameras, realistic counts).

Imported by the calibration tests here (conftest.py) and by the CLI and flow tests.
"""

from __future__ import annotations

import pytest

from tests.tasks.calibration.helpers import Renderer, small_config

#: Flats and donut tests need some area; everything else runs at 256².
FLAT_SIZE = 512


@pytest.fixture(scope="session")
def bank(tmp_path_factory) -> Renderer:
    """256² frames: 10 visible biases, IR biases and darks, visible darks, dome flats, lights."""
    # More hot pixels than the default (2e-5) so that a 256² dark has some to measure.
    renderer = Renderer(
        small_config(256, hot_pixel_fraction=5e-4), tmp_path_factory.mktemp("frames256")
    )
    renderer.vis_biases = renderer.biases(10)
    renderer.vis_darks = renderer.darks(5, 300.0)
    renderer.ir_biases = renderer.biases(10, camera="Infrared camera")
    renderer.ir_darks = renderer.darks(5, 300.0, camera="Infrared camera")
    renderer.dome_r = renderer.dome_flats(7)
    renderer.dome_g = renderer.dome_flats(2, "g")
    return renderer


@pytest.fixture(scope="session")
def flat_bank(tmp_path_factory) -> Renderer:
    """512² frames in a star-rich field: biases, darks, dithered twilight flats, dome flats."""
    config = small_config(FLAT_SIZE, star_density_per_deg2_mag=30000.0)
    renderer = Renderer(config, tmp_path_factory.mktemp("frames512"))
    renderer.vis_biases = renderer.biases(7)
    renderer.vis_darks = renderer.darks(3, 60.0)
    renderer.twilight_r = renderer.twilight_flats(9)
    # The frame checked for flatness after calibration: a twilight flat (same detector, later,
    # another pointing) rendered without stars, so that block medians measure the flat field
    # and not faint starlight.
    starless = Renderer(small_config(FLAT_SIZE, twilight_flat_stars=False), renderer.directory)
    renderer.twilight_check = starless.twilight_flats(1, first=11)
    renderer.dome_r = renderer.dome_flats(7)
    return renderer
