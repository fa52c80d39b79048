"""The ``replay-night`` flow on the Prefect test harness: a recorded night (the in-process
simulation of its inputs) replayed identical, its report as an artifact; bad input fails the run
with the reason."""

from __future__ import annotations

import pytest

from infra.config import get_config
from infra.db import reset_engines
from infra.journal import forget_nights_cache
from tests.support.replay_night import NIGHT, recorded_night_database

pytestmark = [pytest.mark.prefect, pytest.mark.xdist_group("prefect")]


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """A recorded night as the process database, and a PyROS home of the test's own."""
    forget_nights_cache()
    url = recorded_night_database(tmp_path, get_config())
    monkeypatch.setenv("PYROS_DATABASE_URL", url)
    monkeypatch.setenv("PYROS_HOME", str(tmp_path / "home"))
    reset_engines()
    yield tmp_path / "home"
    reset_engines()
    forget_nights_cache()


def test_a_recorded_night_replays_identical_with_its_report_as_an_artifact(
    prefect_harness, recorded
):
    from prefect.artifacts import Artifact

    from flows.replay import replay_night_flow

    summary = replay_night_flow(NIGHT)
    assert summary["identical"] is True and summary["differences"] == []
    assert summary["decisions_compared"] > 10
    assert (recorded / "replays" / NIGHT / "report.md").is_file()
    artifact = Artifact.get(f"replay-{NIGHT}")
    assert artifact is not None and artifact.description.endswith(": identical")
    assert NIGHT in str(artifact.data)

    wet = replay_night_flow(NIGHT, overrides=["safety.rain_rate_threshold_mm_h=30"])
    assert wet["identical"] is False


@pytest.mark.parametrize(
    ("night", "overrides", "words"),
    [
        ("last-night", [], "night 'last-night': expected a label YYYY-MM-DD"),
        (NIGHT, ["safety.rain=3"], "safety.rain: no such configuration key"),
        ("2001-01-01", [], "night 2001-01-01: nothing journaled to replay"),
    ],
)
def test_bad_input_fails_the_run_naming_the_problem(prefect_harness, recorded, night, overrides,
                                                    words):  # fmt: skip
    from flows.replay import replay_night_flow

    with pytest.raises(ValueError, match=words):
        replay_night_flow(night, overrides=overrides)
