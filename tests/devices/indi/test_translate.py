"""INDI properties -> PyROS STATUS fields, and PyROS commands -> INDI values (pure, no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from devices.astrometry import icrs_to_jnow, jnow_to_icrs
from devices.controllers.camera import CameraActivity
from devices.controllers.dome import ShutterState
from devices.controllers.lamp import LampLight
from devices.controllers.mount import MountMotion
from devices.controllers.weather import WeatherLight, WeatherState
from devices.errors import ProtocolError
from devices.indi import translate
from devices.indi.frames import FrameCards, merge_headers, store_frame
from devices.indi.link import Vector
from infra.config import get_config

WHEN = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


def vec(name: str, state: str = "Ok", **values: object) -> Vector:
    return Vector("dev", name, "Number", state, dict(values))


def test_jnow_round_trip_and_precession_size():
    ra, dec = icrs_to_jnow(83.6331, 22.0145, WHEN)
    # 26 years of precession move the Crab by about 0.36° in RA.
    assert 0.3 < ra - 83.6331 < 0.45
    back = jnow_to_icrs(ra, dec, WHEN)
    assert back == pytest.approx((83.6331, 22.0145), abs=1e-6)


def test_goto_members_are_hours_of_date():
    members = translate.goto_members(83.6331, 22.0145, WHEN)
    assert members["RA"] == pytest.approx(icrs_to_jnow(83.6331, 22.0145, WHEN)[0] / 15.0)
    assert set(members) == {"RA", "DEC"}


@pytest.mark.parametrize(
    ("park", "coords", "track", "stopped", "motion"),
    [
        (("Ok", "On"), "Ok", "On", False, MountMotion.PARKED),
        (("Busy", "On"), "Busy", "Off", False, MountMotion.PARKING),
        (("Ok", "Off"), "Busy", "Off", False, MountMotion.SLEWING),
        (("Ok", "Off"), "Ok", "On", False, MountMotion.TRACKING),
        (("Ok", "Off"), "Ok", "On", True, MountMotion.IDLE),  # aborted: no longer tracking
        (("Ok", "Off"), "Idle", "Off", False, MountMotion.IDLE),
        (("Ok", "Off"), "Alert", "Off", False, MountMotion.FAULT),
        (("Alert", "Off"), "Ok", "Off", False, MountMotion.FAULT),
    ],
)
def test_mount_motion(park, coords, track, stopped, motion):
    park_v = Vector("t", "TELESCOPE_PARK", "Switch", park[0], {"PARK": park[1]})
    coords_v = vec("EQUATORIAL_EOD_COORD", coords, RA=5.0, DEC=20.0)
    track_v = Vector("t", "TELESCOPE_TRACK_STATE", "Switch", "Ok", {"TRACK_ON": track})
    assert translate.mount_motion(park_v, coords_v, track_v, stopped) is motion


def test_mount_status_is_icrs_with_target_while_tracking():
    ra_now, dec_now = icrs_to_jnow(40.0, 10.0, WHEN)
    vectors = {
        "EQUATORIAL_EOD_COORD": vec("EQUATORIAL_EOD_COORD", "Ok", RA=ra_now / 15, DEC=dec_now),
        "TELESCOPE_TRACK_STATE": Vector("t", "X", "Switch", "Ok", {"TRACK_ON": "On"}),
    }
    status = translate.mount_status(vectors, WHEN, get_config().site, (40.0, 10.0))
    assert status["state"] == "tracking" and status["tracking"] is True
    assert status["ra_deg"] == pytest.approx(40.0, abs=1e-5)
    assert status["target"] == {"ra_deg": 40.0, "dec_deg": 10.0}
    assert status["alt_deg"] is not None
    assert translate.mount_status({}, WHEN, get_config().site, None)["ra_deg"] is None


@pytest.mark.parametrize(
    ("state", "switch", "stopped", "expected", "percent"),
    [
        ("Busy", "SHUTTER_OPEN", False, ShutterState.OPENING, None),
        ("Busy", "SHUTTER_CLOSE", False, ShutterState.CLOSING, None),
        ("Ok", "SHUTTER_OPEN", False, ShutterState.OPEN, 100.0),
        ("Idle", "SHUTTER_CLOSE", False, ShutterState.CLOSED, 0.0),
        ("Ok", "SHUTTER_OPEN", True, ShutterState.STOPPED, None),
        ("Alert", "SHUTTER_OPEN", False, ShutterState.FAULT, None),
    ],
)
def test_dome_status(state, switch, stopped, expected, percent):
    shutter = Vector("d", "DOME_SHUTTER", "Switch", state, {switch: "On"})
    status = translate.dome_status({"DOME_SHUTTER": shutter}, stopped)
    assert status["state"] is expected and status["open_percent"] == percent


def test_filter_slots_follow_the_configuration():
    filters = ["Clear", "g", "r"]
    assert translate.filter_slot(filters, "r") == 3
    assert translate.filter_name(filters, 2.0) == "g"
    assert (
        translate.filter_name(filters, 9.0) is None and translate.filter_name(filters, None) is None
    )
    with pytest.raises(ValueError, match="no filter 'H'"):
        translate.filter_slot(filters, "H")


@pytest.mark.parametrize(
    ("exposure", "wheel", "waiting", "activity"),
    [
        (("Busy", 3.0), "Ok", True, CameraActivity.EXPOSING),
        (("Busy", 0.0), "Ok", True, CameraActivity.READING_OUT),
        (("Ok", 0.0), "Ok", True, CameraActivity.READING_OUT),  # the frame is being stored
        (("Ok", 0.0), "Busy", False, CameraActivity.MOVING_FILTER),
        (("Alert", 0.0), "Ok", True, CameraActivity.FAULT),
        (("Alert", 0.0), "Ok", False, CameraActivity.IDLE),
        (("Idle", 1.0), "Ok", False, CameraActivity.IDLE),
    ],
)
def test_camera_activity(exposure, wheel, waiting, activity):
    ccd = vec("CCD_EXPOSURE", exposure[0], CCD_EXPOSURE_VALUE=exposure[1])
    slot = vec("FILTER_SLOT", wheel, FILTER_SLOT_VALUE=1.0)
    assert translate.camera_activity(ccd, slot, waiting) is activity


def test_weather_is_a_plc_status_with_states():
    vectors = {
        "WEATHER_PARAMETERS": vec(
            "WEATHER_PARAMETERS", "Ok", WEATHER_RAIN_HOUR=10.0, WEATHER_WIND_SPEED=36.0,
            WEATHER_WIND_GUST=0.0, WEATHER_TEMPERATURE=15.0,
        ),
        "WEATHER_STATUS": Vector(
            "w", "WEATHER_STATUS", "Light", "Alert",
            {"WEATHER_RAIN_HOUR": "Alert", "WEATHER_TEMPERATURE": "Ok"},
        ),
    }  # fmt: skip
    status = translate.weather_status(vectors, "Roof-station", "colibri", "2026-12-04T06:00:00")
    (unit,) = status["device"]
    values = {v["name"]: v["value"] for v in unit["values"]}
    assert unit["name"] == "Roof-station" and unit["valid"] == "yes"
    assert values["RainRate"] == 10.0 and values["WindSpeed"] == 10.0  # 36 km/h
    assert values["WeatherStatus"] == "ALERT" and values["WEATHER_RAIN_HOUR_status"] == "ALERT"
    assert status["date"] == "2026-12-04T06:00:00"
    empty = translate.weather_status({}, "s", "colibri", "2026-12-04T06:00:00")
    assert empty["device"][0]["valid"] == "no"


def _cards() -> FrameCards:
    return FrameCards("seq-1", "light", 2.5, "r", "Visible camera", "COLIBRI", WHEN)


@pytest.mark.parametrize(
    ("state", "on", "intensity", "light"),
    [
        ("Ok", True, 128.0, LampLight.ON),
        ("Idle", False, 0.0, LampLight.OFF),
        ("Busy", True, None, LampLight.ON),
        ("Alert", True, 10.0, LampLight.FAULT),
    ],
)
def test_lamp_status(state, on, intensity, light):
    control = Vector(
        "panel",
        "FLAT_LIGHT_CONTROL",
        "Switch",
        state,
        {"FLAT_LIGHT_ON": "On" if on else "Off", "FLAT_LIGHT_OFF": "Off" if on else "On"},
    )
    vectors = {"FLAT_LIGHT_CONTROL": control}
    if intensity is not None:
        vectors["FLAT_LIGHT_INTENSITY"] = vec(
            "FLAT_LIGHT_INTENSITY", FLAT_LIGHT_INTENSITY_VALUE=intensity
        )
    assert translate.lamp_status(vectors) == {"state": light, "intensity": intensity}
    # A panel that defines no FLAT_LIGHT_CONTROL (not connected, or not a light box) is a fault.
    assert translate.lamp_status({})["state"] is LampLight.FAULT


def test_pyros_headers_are_merged_into_the_driver_frame(tmp_path: Path):
    hdu = fits.PrimaryHDU(np.zeros((4, 5), dtype=np.uint16))
    hdu.header["XBINNING"] = 2
    hdu.header["IMAGETYP"] = "Light Frame"
    raw = tmp_path / "raw.fits"
    hdu.writeto(raw)
    path = tmp_path / "night" / "frame.fits"
    stored = store_frame(path, raw.read_bytes(), _cards())
    with fits.open(path) as hdul:
        header = hdul[0].header
        assert header["IMAGETYP"] == "light" and header["XBINNING"] == 2
        assert header["IMAGEID"] == "seq-1" and header["FILTER"] == "r"
        assert header["EXPTIME"] == 2.5 and header["DATE-OBS"].startswith("2026-12-04T06:00:00")
    assert stored["size_bytes"] == path.stat().st_size
    assert [p.name for p in path.parent.iterdir()] == ["frame.fits"]


def test_a_blob_that_is_not_fits_is_refused():
    with pytest.raises(ProtocolError, match="not FITS"):
        merge_headers(b"not a fits file at all", _cards())


def _station(numbers_state: str = "Ok", **lights: str) -> dict[str, Vector]:
    numbers = vec("WEATHER_PARAMETERS", numbers_state, WEATHER_RAIN_HOUR=10.0,
                  WEATHER_WIND_SPEED=3.0, WEATHER_WIND_GUST=5.0)  # fmt: skip
    status = Vector("dev", "WEATHER_STATUS", "Light", "Ok", dict(lights))
    return {"WEATHER_PARAMETERS": numbers, "WEATHER_STATUS": status}


def test_a_station_reports_each_parameter_with_its_light():
    fields = translate.station_status(
        _station(WEATHER_RAIN_HOUR="Alert", WEATHER_WIND_SPEED="Busy", WEATHER_FORECAST="Ok"),
        "Weather Simulator",
        WHEN,
    )
    assert fields["station"] == "Weather Simulator" and fields["date"] == WHEN.isoformat()
    assert fields["light"] is WeatherLight.ALERT
    assert [(p["name"], p["value"], p["light"]) for p in fields["parameters"]] == [
        ("WEATHER_RAIN_HOUR", 10.0, WeatherLight.ALERT),
        ("WEATHER_WIND_SPEED", 3.0, WeatherLight.WARNING),
        ("WEATHER_WIND_GUST", 5.0, WeatherLight.IDLE),  # not judged by the station
        ("WEATHER_FORECAST", None, WeatherLight.OK),  # a light without a number
    ]
    state = WeatherState.from_fields(fields)  # what the controller makes of it
    assert [p.name for p in state.alerts] == ["WEATHER_RAIN_HOUR"]
    assert state.date == WHEN and state.light is WeatherLight.ALERT


def test_a_station_that_cannot_read_its_sensors_is_in_alert():
    fields = translate.station_status(_station("Alert", WEATHER_RAIN_HOUR="Ok"), "WX", WHEN)
    assert fields["light"] is WeatherLight.ALERT
    assert fields["parameters"][-1] == {
        "name": "WEATHER_PARAMETERS", "value": None, "light": WeatherLight.ALERT
    }  # fmt: skip
    quiet = translate.station_status(_station(WEATHER_RAIN_HOUR="Ok"), "WX", WHEN)
    assert quiet["light"] is WeatherLight.OK


def test_a_malformed_weather_status_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="weather: malformed weather STATUS"):
        WeatherState.from_fields({"station": "WX", "date": "yesterday", "parameters": []})
