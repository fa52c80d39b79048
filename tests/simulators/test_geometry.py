"""Great-circle distance and slew paths."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.geometry import along, separation_deg

lon = st.floats(0.0, 360.0, exclude_max=True)
lat = st.floats(-89.9, 89.9)


def test_known_separations():
    assert separation_deg((0.0, 0.0), (90.0, 0.0)) == pytest.approx(90.0)
    assert separation_deg((10.0, 89.0), (190.0, 89.0)) == pytest.approx(2.0)
    assert separation_deg((0.0, 0.0), (180.0, 0.0)) == pytest.approx(180.0)
    assert separation_deg((5.0, 5.0), (5.0, 5.0)) == 0.0


@given(lon, lat, lon, lat, st.floats(0.0, 1.0))
def test_a_slew_path_covers_its_fraction_of_the_distance(a_lon, a_lat, b_lon, b_lat, fraction):
    a, b = (a_lon, a_lat), (b_lon, b_lat)
    whole = separation_deg(a, b)
    point = along(a, b, fraction)
    assert separation_deg(a, point) == pytest.approx(fraction * whole, abs=1e-6)
    assert separation_deg(point, b) == pytest.approx((1 - fraction) * whole, abs=1e-6)


def test_antipodes_go_through_a_pole():
    middle = along((0.0, 0.0), (180.0, 0.0), 0.5)
    assert abs(middle[1]) == pytest.approx(90.0)
    assert separation_deg((0.0, 0.0), along((0.0, 0.0), (180.0, 0.0), 0.25)) == pytest.approx(45.0)
