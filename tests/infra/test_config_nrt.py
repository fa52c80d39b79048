"""The ``[nrt]`` section: defaults, and refusals that name the key and the problem."""

from __future__ import annotations

import tomllib

import pytest

from infra.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config


def _data() -> dict:
    return tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


def test_the_defaults_use_the_simulated_catalog_and_sep():
    nrt = load_config(DEFAULT_CONFIG_PATH).nrt
    assert nrt.reference_catalog == "simulated" and nrt.engine == "sep"
    assert nrt.max_offset_arcsec >= 60 and nrt.sip_degree == 3


@pytest.mark.parametrize(
    "section, expected",
    [
        ({"engine": "sextractor"}, "nrt.engine"),
        ({"reference_catalog": "gaia"}, "nrt.reference_catalog"),
        ({"min_matches": 500, "match_stars": 100}, "min_matches must not exceed match_stars"),
        ({"detect_threshold_sigma": 0}, "nrt.detect_threshold_sigma"),
        ({"typo_key": 1}, "nrt.typo_key"),
    ],
)
def test_invalid_nrt_settings_are_refused_naming_key_and_problem(section, expected):
    data = _data()
    data["nrt"] = section
    with pytest.raises(ConfigError) as error:
        parse_config(data, "site.toml")
    assert expected in str(error.value)
