"""The main job chases a burst (#18 item 5): ``pyros night --simulate`` with the default scenario
puts a GRB notice through the stack's Comet broker and its afterglow in the simulated sky; the
listener decides, the follow-up observes and analyses, and the summary and the report say the
afterglow was found and how fast.

The burst comes 300 s into the default scenario's rain (the acceptance's "rain at the moment of
the alert"): nothing moves or opens for it; the follow-up waits, still valid, and observes once
the monitor has re-opened the dome after its hold time. (The reflex's slew through the stack is
tested by ``test_alert_followup.py`` and by the browser tier's night.)
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from infra.db import session_scope
from infra.db.models import JournalEntry
from tests.support.databases import only_on

pytestmark = pytest.mark.integration

#: The default scenario's rain: from 8,400 s to 10,200 s after the simulation's start.
RAIN_STARTS_S, RAIN_ENDS_S = 8400.0, 10200.0
#: The GRB's notice, 300 s into the rain.
GRB_IN_RAIN_S = RAIN_STARTS_S + 300.0


def grb_after_dark_min() -> float:
    """``--grb-after-dark`` putting the GRB at :data:`GRB_IN_RAIN_S` after the simulation's
    start, for the night a simulation started now runs."""
    from app.cli.nightsim import SIM_EVENING_S
    from infra.config import load_config
    from tasks.scheduling.night_times import night_to_plan

    night = night_to_plan(datetime.now(UTC), load_config())
    assert night.sunset is not None and night.start is not None, night.label
    at = night.sunset + timedelta(seconds=GRB_IN_RAIN_S - SIM_EVENING_S)
    return (at - night.start).total_seconds() / 60.0


def weather_changes(engine) -> list[tuple[str, datetime]]:
    """The monitor's verdict changes journaled, in order: (event, simulated instant)."""
    with session_scope(engine) as session:
        return [
            (entry.payload["event"], entry.sim_time)
            for entry in session.scalars(
                select(JournalEntry).where(JournalEntry.kind == "event").order_by(JournalEntry.id)
            )
            if entry.payload.get("event") in ("pyros.weather.unsafe", "pyros.weather.safe")
        ]


@only_on("postgresql")
@pytest.mark.site_frame_px(None)
@pytest.mark.timeout(1500)
def test_the_default_night_chases_its_grb_through_the_rain_and_reports_the_afterglow_found(
    instance, engine
):
    result = instance.pyros(
        "night", "--simulate", "--speed", "100", "--hours", "2", "--frame-px", "512",
        "--grb-after-dark", f"{grb_after_dark_min():.2f}", "--json",
        timeout=1200,
    )  # fmt: skip
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    print("alerts:", json.dumps(summary.get("alerts")), file=sys.stderr)
    said = [line for line in result.stderr.splitlines() if "GRB" in line or "alert" in line]
    print("\n".join(said[-20:]), file=sys.stderr)
    assert summary["flow_runs_failed"] == 0 and summary["flow_runs_crashed"] == 0, summary
    assert summary["alerts_received"] == 1 and summary["alerts_followed"] == 1, summary
    assert summary["afterglows_found"] == 1, summary
    report = json.loads((instance.home / "reports" / f"{summary['night']}.json").read_text())
    (line,) = report["alerts"]
    assert line["decision"] == "follow-up" and line["analysed"] >= 1, line
    assert line["afterglow_found"] is True
    assert 0 < line["alert_to_first_frame_s"] <= line["alert_to_afterglow_s"], line
    markdown = (instance.home / "reports" / f"{summary['night']}.md").read_text()
    assert "## Alerts" in markdown and line["ivorn"] in markdown

    # In the rain: nothing moved for the burst (no slew sent), the dome closed once and re-opened
    # after the hold time, and the follow-up's first frame came after the re-opening.
    changes = weather_changes(engine)
    unsafe = [at for name, at in changes if name == "pyros.weather.unsafe"]
    received = datetime.fromisoformat(line["received_at"])
    assert len(unsafe) == 1 and unsafe[0] < received, (changes, line)
    reopened = [at for name, at in changes if name == "pyros.weather.safe" and at > unsafe[0]]
    assert reopened and reopened[0] > received, (changes, line)
    assert line["alert_to_slew_s"] is None, line
    first_frame = received + timedelta(seconds=line["alert_to_first_frame_s"])
    assert first_frame >= reopened[0], (first_frame, reopened)
