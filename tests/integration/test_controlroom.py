"""The control room after a simulated night through the stack (real Prefect server and worker,
PostgreSQL): the artifacts under their stable keys hold current content, one artifact each, and
the previews' URLs answer with PNGs from the stack's previews server."""

from __future__ import annotations

import json
import os
import sys
import urllib.request

import pytest

from infra.config import load_config
from tests.support.artifacts import artifact_table as _table
from tests.support.artifacts import stack_artifacts as _artifacts

pytestmark = pytest.mark.integration


@pytest.mark.skipif(
    not os.environ.get("PYROS_TEST_POSTGRES_URL"),
    reason="PostgreSQL suite off: set PYROS_TEST_POSTGRES_URL (as .ci/run does)",
)
@pytest.mark.parametrize("db_backend", ["postgresql"])
@pytest.mark.site_frame_px(None)
@pytest.mark.timeout(1500)
def test_after_a_night_the_artifacts_are_current_and_the_previews_answer(instance, engine):
    result = instance.pyros(
        "night", "--simulate", "--speed", "100", "--hours", "1", "--frame-px", "256", "--json",
        timeout=1200,
    )  # fmt: skip
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    print("summary:", json.dumps(summary), file=sys.stderr)
    assert summary["sequences_executed"] >= 1, summary

    artifacts = _artifacts(instance)
    by_key: dict[str, list[dict]] = {}
    for artifact in artifacts:
        if artifact["key"]:
            by_key.setdefault(artifact["key"], []).append(artifact)
    print("keys:", sorted((k, len(v)) for k, v in by_key.items()), file=sys.stderr)
    # Updated in place: one artifact per control-room key however many frames and looks.
    nrt_keys = [k for k in by_key if k.startswith("pyros-nrt")]
    assert nrt_keys
    keys = ["pyros-schedule", "pyros-device-health", "pyros-previews", "pyros-sequence-progress"]
    keys += ["pyros-environment", "pyros-alerts"]
    for key in [*keys, *nrt_keys]:
        assert len(by_key.get(key, [])) == 1, (key, len(by_key.get(key, [])))

    schedule = _table(by_key["pyros-schedule"][0])
    assert schedule and all(row["sequence"] and row["target"] for row in schedule)
    assert "## Environment:" in by_key["pyros-environment"][0]["data"]
    progress = by_key["pyros-sequence-progress"][0]
    assert progress["type"] == "progress" and 0.0 <= float(progress["data"]) <= 100.0
    health_rows = _table(by_key["pyros-device-health"][0])
    health = {row["device"]: row["condition"] for row in health_rows}
    assert health.get("mount") == "ok" and health.get("dome") == "ok", health
    assert all("lease holder" in row for row in health_rows), health_rows
    room = load_config(instance.home / "site.toml").controlroom
    for key in nrt_keys:
        rows = _table(by_key[key][0])
        assert 1 <= len(rows) <= room.nrt_artifact_frames
        assert "frame(s) analysed" in by_key[key][0]["description"]

    base = f"http://127.0.0.1:{room.previews_port}/previews/"
    assert base in by_key["pyros-previews"][0]["data"]
    latest = by_key["pyros-preview-latest"]
    assert len(latest) == 1 and latest[0]["type"] == "image"
    url = latest[0]["data"]
    assert url.startswith(base)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "image/png"
        assert response.read(8) == b"\x89PNG\r\n\x1a\n"
    assert len(list((instance.home / "previews").glob("*.png"))) <= room.previews_keep
