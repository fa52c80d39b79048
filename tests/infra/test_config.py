"""The site configuration: defaults, errors naming key and problem, a stable hash."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from infra.config import DEFAULT_CONFIG_PATH, ConfigError, config_hash, load_config, parse_config


def _defaults() -> dict:
    return tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


def test_defaults_describe_san_pedro_martir_and_the_seed_endpoints():
    config = load_config()
    assert (config.site.latitude_deg, config.site.longitude_deg, config.site.elevation_m) == (
        31.0292,
        -115.4869,
        2830.0,
    )
    ports = {
        name: getattr(config.devices, name).port
        for name in ("mount", "camera_vis", "camera_nir", "plc", "dome")
    }
    assert ports == {
        "mount": 5000,
        "camera_vis": 5001,
        "camera_nir": 5002,
        "plc": 5003,
        "dome": 5004,
    }
    assert "First infrared filter" in config.instrument("Visible camera").filters
    assert config.night.sun_altitude_deg == -12.0


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["site"].update(latitude_deg=123), "site.latitude_deg: Input should be less"),
        (lambda d: d["site"].update(altitude=1), "site.altitude: unknown key"),
        (lambda d: d["site"].update(timezone="Mars/Olympus"), "site.timezone: unknown time zone"),
        (lambda d: d["devices"]["dome"].update(port=5000), "devices: dome and mount share"),
        (lambda d: d["devices"]["plc"].update(port=70000), "devices.plc.port"),
        (lambda d: d["instruments"][0].update(filters=["r", "r"]), "duplicate filter names"),
        (lambda d: d["instruments"][1].update(device="dome"), "instruments[1].device"),
        (lambda d: d.pop("safety"), "safety: Field required"),
        (lambda d: d["limits"].update(min_altitude_deg=5), "below horizon_deg"),
        (
            lambda d: d["alerts"]["strategies"][0]["plans"][0].update(filter="Y"),
            "alerts.strategies[0].plans[0].filter",
        ),
        (lambda d: d["safety"].update(hold_good_s="ten minutes"), "safety.hold_good_s"),
    ],
)
def test_invalid_values_are_refused_naming_key_and_problem(mutate, expected):
    data = _defaults()
    mutate(data)
    with pytest.raises(ConfigError) as error:
        parse_config(data, "site.toml")
    assert expected in str(error.value)
    assert str(error.value).startswith("site.toml: invalid site configuration: ")


def test_unreadable_and_non_toml_files_are_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[site\nname=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_hash_ignores_layout_and_changes_with_values(tmp_path: Path):
    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    reordered = tmp_path / "reordered.toml"
    # Same content, different layout: comments removed and the [site] keys reversed.
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    start = lines.index("[site]") + 1
    end = lines.index("", start)
    lines[start:end] = reversed(lines[start:end])
    reordered.write_text("\n".join(lines), encoding="utf-8")
    assert config_hash(load_config(reordered)) == config_hash(load_config())

    changed = tmp_path / "changed.toml"
    changed.write_text(text.replace("hold_good_s = 600.0", "hold_good_s = 300.0"), encoding="utf-8")
    assert config_hash(load_config(changed)) != config_hash(load_config())


def test_site_config_from_environment(tmp_path: Path, monkeypatch):
    from infra.config import _cached, get_config

    custom = tmp_path / "site.toml"
    custom.write_text(
        DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").replace(
            'name = "colibri"', 'name = "testsite"'
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("PYROS_SITE_CONFIG", str(custom))
    _cached.cache_clear()
    assert get_config().site.name == "testsite"


def _with_indi_device(device: str, indi_device: str, keys: dict[str, object]) -> dict:
    """The defaults with an optional INDI device (``lamp``, ``weather``) on a remote server;
    ``keys`` add to or replace its keys."""
    data = _defaults()
    data["devices"][device] = {
        "host": "10.0.0.5",
        "port": 7624,
        "driver": "indi",
        "indi_device": indi_device,
        **keys,
    }
    return data


def _lamp(**keys: object) -> dict:
    return _with_indi_device("lamp", "Light Panel Simulator", keys)


def test_the_lamp_is_optional_and_absent_by_default():
    config = load_config()
    assert config.devices.lamp is None
    assert list(config.devices.configured()) == ["mount", "camera_vis", "camera_nir", "plc", "dome"]
    lamp = parse_config(_lamp(intensity=128)).devices
    assert lamp.lamp is not None and lamp.lamp.intensity == 128.0
    assert list(lamp.configured())[-1] == "lamp"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"driver": "pyros"}, "devices.lamp.driver: Input should be 'indi'"),
        ({"indi_device": None}, 'devices.lamp: driver "indi" needs indi_device'),
        ({"intensity": -1}, "devices.lamp.intensity: Input should be greater than or equal to 0"),
        ({"intensity": 1e6}, "devices.lamp.intensity: Input should be less than or equal to"),
        ({"intensity": "bright"}, "devices.lamp.intensity: Input should be a valid number"),
        ({"port": 0}, "devices.lamp.port"),
        ({"dimmer": 3}, "devices.lamp.dimmer: unknown key"),
    ],
)
def test_a_bad_lamp_is_refused_naming_the_key(keys, expected):
    data = _lamp(**keys)
    data["devices"]["lamp"] = {k: v for k, v in data["devices"]["lamp"].items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "site.toml")
    assert expected in str(caught.value)


def test_the_lamp_may_not_be_another_devices_indi_device():
    data = _lamp()
    data["devices"]["dome"] = {**data["devices"]["lamp"], "indi_device": "Light Panel Simulator"}
    with pytest.raises(ConfigError, match="both INDI device 'Light Panel Simulator'"):
        parse_config(data)
    missing = _lamp()
    del missing["devices"]["lamp"]["driver"]
    with pytest.raises(ConfigError, match=r"devices\.lamp\.driver: Field required"):
        parse_config(missing)


def _weather(**keys: object) -> dict:
    return _with_indi_device("weather", "Weather Simulator", keys)


def test_the_weather_station_is_optional_and_absent_by_default():
    config = load_config()
    assert config.devices.weather is None
    assert "weather" not in config.devices.configured()
    station = parse_config(_weather()).devices
    assert station.weather is not None and station.weather.indi_device == "Weather Simulator"
    assert list(station.configured())[-1] == "weather"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"driver": "pyros"}, "devices.weather.driver: Input should be 'indi'"),
        ({"indi_device": None}, 'devices.weather: driver "indi" needs indi_device'),
        ({"indi_device": ""}, "devices.weather.indi_device: String should have at least 1"),
        ({"port": 0}, "devices.weather.port"),
        ({"timeout_s": 0}, "devices.weather.timeout_s: Input should be greater than 0"),
        ({"station": "x"}, "devices.weather.station: unknown key"),
    ],
)
def test_a_bad_weather_station_is_refused_naming_the_key(keys, expected):
    data = _weather(**keys)
    data["devices"]["weather"] = {
        k: v for k, v in data["devices"]["weather"].items() if v is not None
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "site.toml")
    assert expected in str(caught.value)


def test_the_weather_station_may_not_be_another_devices_indi_device():
    data = _weather()
    data["devices"]["plc"] = {**data["devices"]["weather"], "indi_station": "WX"}
    with pytest.raises(ConfigError, match="both INDI device 'Weather Simulator'"):
        parse_config(data)
