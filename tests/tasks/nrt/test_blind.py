"""Which follow-up frames are searched blindly (pure), and the search on a rendered tile."""

from __future__ import annotations

import pytest

from tasks.nrt.blind import wants_blind_search
from tasks.nrt.candidates import AlertRegion

SHAPE, SCALE = (2048, 4096), 0.63  # the shorter side: 2048 x 0.63 = 1290 arcsec


@pytest.mark.parametrize(
    ("mode", "radius_arcsec", "expected"),
    [
        ("tiled", 4.0, False),  # a Swift circle: the circle helps
        ("tiled", 645.0, False),  # exactly half the shorter side: it still fits
        ("tiled", 646.0, True),  # larger: the strategy tiles it
        ("tiled", 3 * 3600.0, True),  # a GBM box
        ("always", 4.0, True),
        ("off", 3 * 3600.0, False),
    ],
)
def test_a_follow_up_frame_is_searched_blindly_when_its_circle_does_not_fit_in_it(
    mode, radius_arcsec, expected
):
    alert = AlertRegion("ivo://test#1", 10.0, 20.0, radius_arcsec)
    assert wants_blind_search(mode, alert, SHAPE, SCALE) is expected


def test_a_frame_without_an_alert_is_never_searched_blindly():
    assert not wants_blind_search("always", None, SHAPE, SCALE)
