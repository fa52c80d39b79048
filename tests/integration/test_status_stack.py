"""``pyros status --json`` on a real stack (``pyros up``): a fake alarm shows as the monitor's
UNSAFE verdict (status ``OVERRIDE``) after its next poll, and the exposure in progress on a camera
shows its progress, read through the camera's gateway, as elapsed on the stack's clock.

The latencies are printed (``-s``), not asserted: speed goes in benchmarks (docs/testing.md)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from devices.client import NdjsonClient
from infra.clock import parse_instant
from tests.support.cli import run_pyros
from tests.support.databases import only_on

pytestmark = pytest.mark.integration
#: The stack's simulated start: a dark night at San Pedro Mártir, on a clock at speed 1.
START = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)


def _status(instance) -> dict:
    result = run_pyros("status", "--json", env=instance.env, check=True)
    document = json.loads(result.stdout)  # exactly one JSON document
    assert document["ok"] is True, document
    return document["observatory"]


# PostgreSQL: the status read by another process while the monitor writes (SQLite: make run).
@only_on("postgresql")
def test_status_json_reflects_a_fake_alarm_and_the_exposure_in_progress(instance, engine):
    instance.env["PYROS_CLOCK"] = (
        f"sim:{START.isoformat().replace('+00:00', 'Z')}@1@{time.time():.3f}"
    )
    instance.pyros("up", "--json", timeout=300)

    first = _status(instance)
    assert first["mode"] == "AUTO" and first["database_error"] is None
    assert first["dome"]["device"]["reachable"] and first["mount"]["device"]["reachable"]
    assert {c["device"]["name"] for c in first["cameras"]} == {"camera_vis", "camera_nir"}

    instance.pyros("monitor", "fake-alarm", "--for", "10", "--by", "drill-test")
    alarm_at = time.monotonic()
    seen = None
    for _ in range(60):
        observatory = _status(instance)
        if (
            observatory["weather"]["safe"] is False
            and observatory["weather"]["weather_status"] == "OVERRIDE"
        ):
            seen = time.monotonic() - alarm_at
            break
    assert seen is not None, observatory["weather"]
    assert any("drill-test" in o for o in observatory["weather"]["overrides"])
    monitor = next(w for w in observatory["watchers"] if w["name"] == "environment-monitor")
    assert monitor["process"].startswith("running") and monitor["last_heartbeat_at"]
    print(f"\nfake alarm -> UNSAFE/OVERRIDE in pyros status --json: {seen:.2f} s wall")

    with NdjsonClient(
        "127.0.0.1", instance.device_ports["camera_vis"], name="camera_vis", timeout_s=10
    ) as camera:
        camera.call("EXPOSE", {"exposure_s": 120.0, "image_type": "dark", "frame_id": "st-1"})
    exposed_at = time.monotonic()
    observatory = _status(instance)
    read_in = time.monotonic() - exposed_at
    visible = next(c for c in observatory["cameras"] if c["device"]["name"] == "camera_vis")
    exposure = visible["exposure"]
    assert visible["device"]["state"] == "exposing" and exposure["frame_id"] == "st-1"
    shown = exposure["elapsed_s"]
    at = parse_instant(observatory["at"])
    assert shown == pytest.approx(
        (at - parse_instant(exposure["started_at"])).total_seconds(), abs=0.01
    )
    # At speed 1 the progress shown lags the truth by at most the command's own duration.
    assert 0.0 <= shown <= read_in + 0.5
    print(f"exposure progress shown {shown:.2f} s of 120 s, command took {read_in:.2f} s wall")
