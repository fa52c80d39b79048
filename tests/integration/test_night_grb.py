"""The main job chases a burst (#18 item 5): ``pyros night --simulate`` with the default scenario
puts a GRB notice through the stack's Comet broker and its afterglow in the simulated sky; the
listener decides, the reflex slews, the follow-up observes and analyses, and the summary and the
report say the afterglow was found and how fast."""

from __future__ import annotations

import json
import os
import sys

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.skipif(
    not os.environ.get("PYROS_TEST_POSTGRES_URL"),
    reason="PostgreSQL suite off: set PYROS_TEST_POSTGRES_URL (as .ci/run does)",
)
@pytest.mark.parametrize("db_backend", ["postgresql"])
@pytest.mark.site_frame_px(None)
@pytest.mark.timeout(1500)
def test_the_default_night_chases_its_grb_and_reports_the_afterglow_found(instance):
    result = instance.pyros(
        "night", "--simulate", "--speed", "100", "--hours", "0.75", "--frame-px", "512",
        "--grb-after-dark", "10", "--json",
        timeout=1200,
    )  # fmt: skip
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    print("alerts:", json.dumps(summary.get("alerts")), file=sys.stderr)
    said = [line for line in result.stderr.splitlines() if "GRB" in line or "alert" in line]
    print("\n".join(said[-20:]), file=sys.stderr)
    assert summary["flow_runs_failed"] == 0 and summary["flow_runs_crashed"] == 0, summary
    assert summary["alerts_received"] == 1 and summary["alerts_followed"] == 1, summary
    assert summary["afterglows_found"] == 1, summary
    (alert,) = summary["alerts"]
    assert alert["afterglow_found"] is True
    assert alert["alert_to_slew_s"] is not None and alert["alert_to_slew_s"] >= 0
    assert 0 < alert["alert_to_first_frame_s"] <= alert["alert_to_afterglow_s"]
    report = json.loads((instance.home / "reports" / f"{summary['night']}.json").read_text())
    (line,) = report["alerts"]
    assert line["decision"] == "follow-up" and line["analysed"] >= 1
    markdown = (instance.home / "reports" / f"{summary['night']}.md").read_text()
    assert "## Alerts" in markdown and line["ivorn"] in markdown
