"""A short simulated night an operator would want to watch: requests, a GRB alert with its
afterglow, then rain (the browser tier and the operations guide's screenshots).

The alert is the operator drill's notice (:func:`tasks.alerts.drill.drill_notice`) issued at the
simulated instant the scenario sends it, so the listener takes it as fresh; the afterglow
appears at the notice's position at the same instant and fades.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from infra.config import SiteConfig
from simulators import DATA_DIR

#: The default night's request files.
REQUESTS = DATA_DIR / "scenarios" / "night"

#: Simulated seconds after the dark night begins: the alert (and its afterglow), the rain, the
#: rain's end.
ALERT_AFTER_DARK_S = 300.0
RAIN_AFTER_DARK_S = 2700.0
DRY_AFTER_DARK_S = 3300.0
#: The rain rate the weather stations report (mm/h): wet by any threshold.
RAIN_MM_H = 12.0


@dataclass(frozen=True)
class OperatorNight:
    """The scenario written, and what it will show."""

    scenario: Path
    ivorn: str
    ra_deg: float
    dec_deg: float
    night: str


def write_operator_night(folder: Path, config: SiteConfig, now: datetime) -> OperatorNight:
    """Write the scenario (and its notice) into ``folder`` for the night ``pyros night
    --simulate`` run at ``now`` simulates (same plan: the clock starts the simulation's evening
    before sunset)."""
    from app.cli.nightgrb import grb_items
    from app.cli.nightsim import SIM_EVENING_S
    from tasks.scheduling.night_times import night_to_plan

    night = night_to_plan(now, config)
    assert night.sunset is not None and night.start is not None, night.label
    clock_start = night.sunset - timedelta(seconds=SIM_EVENING_S)
    dark_s = (night.start - clock_start).total_seconds()
    grb = grb_items(folder, config, clock_start, round(dark_s + ALERT_AFTER_DARK_S))

    items: list[object] = [86400]
    items += [
        {"time": 60 + 300 * i, "userSimulator": str(REQUESTS / f"night_request_{i + 1:02d}.xml")}
        for i in range(6)
    ]
    items += list(grb.items)
    for start, rate in ((RAIN_AFTER_DARK_S, RAIN_MM_H), (DRY_AFTER_DARK_S, 0.0)):
        for station in ("WXT520", "VantagePro"):
            rain = {"device_name": station, "value_name": "RainRate", "value": rate}
            items.append({"time": round(dark_s + start), "plcSimulator": rain})
    scenario = folder / "operator-night.json"
    scenario.write_text(json.dumps(items, indent=1), encoding="utf-8")
    return OperatorNight(scenario, grb.ivorn, grb.ra_deg, grb.dec_deg, night.label)
