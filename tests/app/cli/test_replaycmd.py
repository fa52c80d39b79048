"""``pyros replay``: the JSON summary of a replayed night, a what-if, and bad input."""

from __future__ import annotations

import json
import os

import pytest

from infra.config import get_config
from infra.journal import forget_nights_cache
from tests.support.cli import run_pyros
from tests.support.replay_night import NIGHT, recorded_night_database


@pytest.fixture
def recorded_env(tmp_path):
    """A recorded night (the in-process simulation of its inputs) as the process database."""
    forget_nights_cache()
    url = recorded_night_database(tmp_path, get_config())
    env = {**os.environ, "PYROS_DATABASE_URL": url, "PYROS_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)
    return env


def test_replay_json_ends_with_the_summary(recorded_env, tmp_path):
    result = run_pyros("replay", NIGHT, "--json", env=recorded_env, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["identical"] is True and summary["differences"] == []
    assert summary["decisions_compared"] > 10
    for key in ("wall_seconds", "simulated_seconds", "speed_factor"):
        assert summary[key] > 0
    assert (tmp_path / "home" / "replays" / NIGHT / "report.md").is_file()
    wet = run_pyros(
        "replay", NIGHT, "--set", "safety.rain_rate_threshold_mm_h=30", "--json", env=recorded_env
    )
    assert wet.returncode == 0, wet.stderr
    assert json.loads(wet.stdout.strip().splitlines()[-1])["identical"] is False


def test_a_bad_set_is_refused_naming_it(recorded_env):
    result = run_pyros("replay", NIGHT, "--set", "safety.rain=3", env=recorded_env)
    assert result.returncode == 2
    assert "--set safety.rain: no such configuration key" in result.stderr
    result = run_pyros("replay", "last-night", env=recorded_env)
    assert result.returncode == 2 and "expected a label YYYY-MM-DD" in result.stderr
