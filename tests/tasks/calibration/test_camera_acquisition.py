"""Calibration frames taken with the cameras through real gateways (fake devices behind them):
the right frame types and counts, the filter set, the mount dithered for twilight flats, the lamp
on for dome flats and off after (the light panel of ``[devices.lamp]`` when configured, the PLC's
switch otherwise), and refusals that name the problem."""

from __future__ import annotations

import pytest

from infra.clock import SystemClock
from infra.config import SiteConfig, get_config, parse_config
from tasks.calibration.acquisition import AcquisitionRequest
from tasks.calibration.camera_acquisition import (
    FLAT_ALTITUDE_DEG,
    CameraAcquisition,
    dither_offset,
    flat_field_spot,
    gateway_acquisition,
)


@pytest.fixture
def rig(fake_device, gateway_for, controller_for, tmp_path):
    fakes = {"camera_vis": fake_device("camera"), "mount": fake_device("mount")}
    fakes["plc"] = fake_device("plc")
    gateways = {name: gateway_for(name, fake) for name, fake in fakes.items()}
    clock = SystemClock()
    camera = controller_for(gateways["camera_vis"], clock=clock)
    mount = controller_for(gateways["mount"], clock=clock)
    plc = controller_for(gateways["plc"], clock=clock)
    take = CameraAcquisition(
        {"Visible camera": camera},
        "calibration-test",
        clock,
        get_config(),
        tmp_path / "frames",
        "2026-11-24",
        mount=mount,
        lamp=plc,
    )
    return take, fakes


def _commands(fake, name: str) -> list[dict]:
    return [r.line["command"][0] for r in fake.received(name)]


def test_bias_and_darks_are_taken_with_the_camera_alone(rig, tmp_path):
    take, fakes = rig
    paths = take(AcquisitionRequest("Visible camera", "bias", 3))
    assert len(paths) == 3 and all(p.exists() for p in paths)
    assert all(p.parent == tmp_path / "frames" / "2026-11-24" / "calibration" for p in paths)
    assert len(set(paths)) == 3
    darks = take(AcquisitionRequest("Visible camera", "dark", 2, 30.0))
    exposures = _commands(fakes["camera_vis"], "EXPOSE")
    assert [(e["image_type"], e["exposure_s"]) for e in exposures] == [("bias", 0.0)] * 3 + [
        ("dark", 30.0)
    ] * 2
    assert [e["path"] for e in exposures] == [str(p) for p in [*paths, *darks]]
    assert _commands(fakes["mount"], "GOTO") == []


def test_twilight_flats_point_at_the_flat_spot_and_dither(rig):
    take, fakes = rig
    request = AcquisitionRequest("Visible camera", "flat", 3, 5.0, "r", "twilight", 30.0)
    paths = take(request)
    assert len(paths) == 3
    assert _commands(fakes["camera_vis"], "SET_FILTER")[-1]["filter"] == "r"
    gotos = _commands(fakes["mount"], "GOTO")
    assert len(gotos) == 3
    decs = [g["dec_deg"] for g in gotos]
    assert decs[0] == pytest.approx(get_config().site.latitude_deg - (90 - FLAT_ALTITUDE_DEG))
    # every frame on a different spot, each step about the dither
    spots = {(round(g["ra_deg"], 6), round(g["dec_deg"], 6)) for g in gotos}
    assert len(spots) == 3
    assert abs(decs[2] - decs[1]) == pytest.approx(30.0 / 3600.0, rel=1e-6)
    assert _commands(fakes["plc"], "SWITCH") == []


def test_dome_flats_switch_the_lamp_on_then_off(rig):
    take, fakes = rig
    take(AcquisitionRequest("Visible camera", "flat", 2, 2.0, "g", "dome"))
    switches = [(s["switch"], s["on"]) for s in _commands(fakes["plc"], "SWITCH")]
    assert switches == [("calibration_lamp", True), ("calibration_lamp", False)]
    assert fakes["plc"].state["switches"]["calibration_lamp"] is False


def test_refusals_name_the_problem(rig, tmp_path):
    take, _ = rig
    with pytest.raises(ValueError, match="no camera controller for 'Infrared camera'"):
        take(AcquisitionRequest("Infrared camera", "bias", 1))
    bare = CameraAcquisition(take.cameras, "x", take.clock, take.config, tmp_path, "2026-11-24")
    with pytest.raises(ValueError, match="twilight flats need the mount"):
        bare(AcquisitionRequest("Visible camera", "flat", 1, 1.0, "r", "twilight"))
    with pytest.raises(ValueError, match="dome flats need the calibration lamp"):
        bare(AcquisitionRequest("Visible camera", "flat", 1, 1.0, "r", "dome"))


def test_the_flat_spot_is_on_the_meridian_and_the_dither_spirals():
    clock = SystemClock()
    ra, dec = flat_field_spot(clock, get_config())
    assert 0 <= ra < 360 and -90 <= dec <= 90
    offsets = [dither_offset(i, 36.0) for i in range(9)]
    assert len(set(offsets)) == 9 and offsets[0] == (0.0, 0.0)
    assert max(abs(x) for o in offsets for x in o) == pytest.approx(0.01)


def test_each_flat_sets_the_next_ones_exposure_towards_the_middle_of_the_usable_range():
    from tasks.calibration.acquisition import (
        FLAT_EXPOSURE_MAX_S,
        FLAT_EXPOSURE_MIN_S,
        next_flat_exposure,
    )

    config = get_config()
    top = 60000.0
    middle = 0.5 * (
        config.calibration.flat_level_min_fraction + config.calibration.flat_level_max_fraction
    )
    # A fading twilight: 5 s gave a tenth of the target level -> ten times longer.
    assert next_flat_exposure(5.0, 0.1 * middle * top, top, config) == pytest.approx(50.0)
    # Too bright by half -> half as long; saturated -> 4 times shorter (the rate is unknown).
    assert next_flat_exposure(8.0, 2 * middle * top, top, config) == pytest.approx(4.0)
    assert next_flat_exposure(8.0, top, top, config) == pytest.approx(2.0)
    # Empty -> 4 times longer; the clamps.
    assert next_flat_exposure(5.0, 0.0, top, config) == pytest.approx(20.0)
    assert next_flat_exposure(1.0, top, top, config) == FLAT_EXPOSURE_MIN_S
    assert next_flat_exposure(100.0, 0.01 * top, top, config) == FLAT_EXPOSURE_MAX_S


def _site(gateways: dict, lamp: bool) -> SiteConfig:
    """The default site with its gateways at the test's ports (and a light panel, or not)."""
    data = get_config().model_dump(mode="json")
    for name, gateway in gateways.items():
        data["gateways"]["ports"][name] = gateway.address[1]
    if lamp:
        data["devices"]["lamp"] = {
            "host": "127.0.0.1",
            "port": 7624,
            "driver": "indi",
            "indi_device": "Light Panel Simulator",
        }
    return parse_config(data)


@pytest.mark.parametrize("panel", [True, False], ids=["panel configured", "no panel"])
def test_dome_flats_use_the_panel_when_configured_and_the_plc_switch_otherwise(
    panel, fake_device, gateway_for
):
    fakes = {name: fake_device(name) for name in ("plc", "lamp")}
    fakes["camera_vis"] = fake_device("camera")
    gateways = {name: gateway_for(name, fake) for name, fake in fakes.items()}
    acquire = gateway_acquisition("calibration-test", "2026-11-24", config=_site(gateways, panel))
    paths = acquire(AcquisitionRequest("Visible camera", "flat", 2, 2.0, "g", "dome"))
    assert len(paths) == 2 and all(p.exists() for p in paths)
    lights = [(c["on"], c["owner"]) for c in _lines(fakes["lamp"], "LIGHT")]
    switches = [(c["switch"], c["on"]) for c in _commands(fakes["plc"], "SWITCH")]
    if panel:
        assert lights == [(True, "calibration-test"), (False, "calibration-test")]
        assert switches == [] and fakes["lamp"].state["state"] == "off"
    else:
        assert lights == []
        assert switches == [("calibration_lamp", True), ("calibration_lamp", False)]
    # The lamp was on while the camera exposed: on before the first EXPOSE, off after the last.
    lamp_log = fakes["lamp"] if panel else fakes["plc"]
    switched = [r.at for r in lamp_log.received("LIGHT" if panel else "SWITCH")]
    exposed = [r.at for r in fakes["camera_vis"].received("EXPOSE")]
    assert switched[0] <= exposed[0] and exposed[-1] <= switched[-1]


def _lines(fake, name: str) -> list[dict]:
    return [{**r.line["command"][0], "owner": r.line.get("owner")} for r in fake.received(name)]
