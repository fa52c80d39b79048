"""The [sky] section: validated like the rest of the site file, errors naming key and problem."""

from __future__ import annotations

import tomllib

import pytest

from infra.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config


def _defaults() -> dict:
    return tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


def test_every_filter_of_every_wheel_has_its_photometry():
    config = load_config()
    for instrument in config.instruments:
        for name in instrument.filters:
            assert name in config.sky.filters
    assert config.sky.filters["Dark"].opaque
    assert config.sky.reference_filter == "r"


def test_a_partial_sky_section_takes_the_documented_defaults():
    data = _defaults()
    data["sky"] = {"filters": data["sky"]["filters"], "seeing_fwhm_arcsec": 2.0}
    config = parse_config(data)
    assert config.sky.seeing_fwhm_arcsec == 2.0
    assert config.sky.pointing_error_arcsec == 60.0


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["sky"].update(star_mag_faint=5.0), "sky: Value error, star_mag_faint"),
        (lambda d: d["sky"].update(seeing_fwhm_arcsec=0.0), "sky.seeing_fwhm_arcsec"),
        (lambda d: d["sky"].update(pointing_error=1), "sky.pointing_error: unknown key"),
        (lambda d: d["sky"].update(reference_filter="V"), "reference_filter 'V' has no"),
        (lambda d: d["sky"].update(reference_filter="Dark"), "reference_filter 'Dark' is opaque"),
        (
            lambda d: d["sky"]["filters"].pop("J"),
            "instruments[1].filters: 'J' has no [sky.filters]",
        ),
        (
            lambda d: d["sky"]["filters"]["r"].update(zero_point_mag="bright"),
            "sky.filters.r.zero_point_mag",
        ),
        (lambda d: d["sky"].update(dust_donuts=-1), "sky.dust_donuts"),
        (lambda d: d.pop("sky"), "sky: Field required"),
    ],
)
def test_invalid_sky_settings_are_refused_naming_key_and_problem(mutate, expected):
    data = _defaults()
    mutate(data)
    with pytest.raises(ConfigError) as error:
        parse_config(data, "site.toml")
    assert expected.replace("Value error, ", "") in str(error.value)
