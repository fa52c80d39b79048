"""The ``[alerts]`` section: defaults of the policy knobs and errors naming key and problem."""

from __future__ import annotations

import tomllib

import pytest

from infra.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config


def _defaults() -> dict:
    return tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


def test_alert_policy_defaults():
    alerts = load_config().alerts
    assert (alerts.test_mode, alerts.validity_s, alerts.priority) == (False, 43200.0, 100)
    assert alerts.followed_kinds == ["grb"] and alerts.max_packet_bytes == 262144
    assert [s.name for s in alerts.strategies] == ["swift-bat", "svom-eclairs", "gbm-gecam-wide"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda a: a.update(followed_kinds=["grb", "x-ray"]),
            "alerts.followed_kinds: unknown event kinds",
        ),
        (lambda a: a.update(tile_overlap=0.95), "alerts.tile_overlap"),
        (lambda a: a.update(max_packet_bytes=10), "alerts.max_packet_bytes"),
        (lambda a: a.update(window_step_s=1.0), "alerts.window_step_s"),
        (lambda a: a["strategies"].append(dict(a["strategies"][0])), "duplicate strategy names"),
        (lambda a: a.update(surprise=1), "alerts.surprise: unknown key"),
        (
            lambda a: a["strategies"][0].update(min_probability=0.1),
            "strategy swift-bat: min_probability (partial tiling) needs allow_tiling = true",
        ),
        (lambda a: a["strategies"][2].update(min_probability=1.5), "min_probability"),
        (lambda a: a["strategies"][2].update(error_containment=1.0), "error_containment"),
    ],
)
def test_bad_alert_settings_name_the_key(change, expected):
    data = _defaults()
    change(data["alerts"])
    with pytest.raises(ConfigError) as info:
        parse_config(data, "site.toml")
    assert expected in str(info.value)
