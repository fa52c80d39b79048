"""A night recorded through the whole stack (real Prefect server and worker, simulators,
gateways, the monitor) replayed from its journal: issue 20's first acceptance item."""

from __future__ import annotations

import json
import os

import pytest

from tests.support.databases import only_on

pytestmark = pytest.mark.integration


@pytest.mark.skipif(
    not os.environ.get("PYROS_TEST_REPLAY_STACK"),
    reason="known to fail (issue 20, below), 6 minutes: set PYROS_TEST_REPLAY_STACK=1 to run it",
)
@only_on("sqlite")
@pytest.mark.timeout(1500)
@pytest.mark.xfail(
    strict=True,
    reason="issue 20 acceptance not reached (docs/replay.md, 'A night through the real stack'): "
    "schedules and dome actions replay identical since 2026-12-07, but sequence transitions "
    "differ (65 of 108): an execution's start differs by seconds from the recorded one, and "
    "a request arriving in between changes the order; alerts are not replayed",
)
def test_a_night_through_the_stack_replays_identical(instance, engine):
    night = ("night", "--simulate", "--hours", "2", "--frame-px", "0", "--json")
    result = instance.pyros(*night, timeout=1200)
    label = json.loads(result.stdout.strip().splitlines()[-1])["night"]
    replay = instance.pyros("replay", label, "--json", timeout=600)
    assert replay.returncode == 0, replay.stderr
    summary = json.loads(replay.stdout.strip().splitlines()[-1])
    print(json.dumps(summary, indent=1))  # what differs, for whoever runs it
    assert summary["decisions_compared"] > 0
    assert summary["identical"], summary["differences"]
