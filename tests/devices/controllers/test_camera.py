"""The camera and its filter wheel: exposures, frames, filters, aborts."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.controllers import CameraActivity, connect_camera
from devices.errors import CommandRefused, DeviceError, Preempted
from infra.config import get_config


@pytest.fixture
def camera_setup(fake_device, gateway_for, controller_for):
    fake = fake_device("camera", time_scale=0.01)
    gateway = gateway_for("camera_vis", fake)
    return fake, gateway, lambda: controller_for(gateway)


def test_expose_returns_the_frame_where_the_camera_wrote_it(camera_setup, tmp_path):
    _fake, _, make = camera_setup
    camera = make()
    with camera.claim("flow-1", "routine"):
        frame = camera.expose(2.0, "light", frame_id="S0000001-P0000001-I0001",
                              path=tmp_path / "f1.fits")  # fmt: skip
        assert frame.frame_id == "S0000001-P0000001-I0001"
        assert frame.path == str(tmp_path / "f1.fits") and Path(frame.path).exists()
        assert frame.image_type == "light" and frame.exposure_s == 2.0
        generated = camera.expose(0.0, "bias")
        assert generated.frame_id.startswith("camera_vis-") and Path(generated.path).exists()
    assert camera.status().last_frame.frame_id == generated.frame_id


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ((-1.0, "light"), "not in \\[0, 86400\\]"),
        ((float("inf"), "light"), "not in"),
        ((1.0, "sky"), "image type 'sky' is not one of light, bias, dark, flat"),
    ],
)
def test_bad_exposures_are_refused_before_reaching_the_camera(camera_setup, args, problem):
    fake, _, make = camera_setup
    camera = make()
    camera.claim("flow-1", "routine")
    with pytest.raises(CommandRefused, match=problem):
        camera.start_exposure(*args)
    with pytest.raises(CommandRefused, match="must be absolute"):
        camera.start_exposure(1.0, path="relative/f.fits")
    assert fake.received("EXPOSE") == []


def test_the_filter_wheel_refuses_unknown_filters_and_shares_the_cameras_lease(camera_setup):
    fake, _, make = camera_setup
    camera = make()
    wheel = camera.filter_wheel
    assert wheel.filters == get_config().instrument("Visible camera").filters
    with camera.claim("flow-1", "routine"):
        with pytest.raises(CommandRefused, match="unknown filter 'J'") as caught:
            wheel.set_filter("J")
        assert caught.value.code == "unknown_filter" and fake.received("SET_FILTER") == []
        assert wheel.set_filter("First infrared filter") == "First infrared filter"
        assert wheel.current() == "First infrared filter"
        assert camera.expose(1.0).filter == "First infrared filter"


def test_an_own_abort_ends_the_wait_without_a_frame(camera_setup):
    _, _, make = camera_setup
    camera = make()
    camera.claim("flow-1", "routine")
    frame_id = camera.start_exposure(10_000.0)
    assert camera.status().activity is CameraActivity.EXPOSING
    camera.abort()
    with pytest.raises(DeviceError, match=f"exposure {frame_id} ended without a frame") as caught:
        camera.wait_for_frame(frame_id)
    assert caught.value.code == "no_frame"


def test_a_preempted_exposure_is_reported_to_its_owner(camera_setup):
    fake, _, make = camera_setup
    routine, alert = make(), make()
    routine.claim("flow-1", "routine")
    frame_id = routine.start_exposure(10_000.0)
    alert.claim("alert-listener", "alert")
    with pytest.raises(Preempted, match=r"preempted by alert-listener \(alert\).*EXPOSE aborted"):
        routine.wait_for_frame(frame_id)
    assert fake.state["state"] == "idle" and fake.state["last_frame"] is None


def test_connect_camera_by_instrument_or_device_name():
    config = get_config()
    for name in ("Infrared camera", "camera_nir"):
        camera = connect_camera(name, config, address=("127.0.0.1", 1))
        assert camera.device == "camera_nir" and camera.instrument.name == "Infrared camera"
        camera.disconnect()
    with pytest.raises(ValueError, match="no camera called 'mount'"):
        connect_camera("mount", config)
