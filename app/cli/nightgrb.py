"""The simulated night's gamma-ray burst (#18): a GRB notice through the stack's broker and its
afterglow in the simulated sky, so ``make run`` shows the telescope chase one.

The notice is the operator drill's (:func:`tasks.alerts.drill.drill_notice`: the bundled Swift
BAT position notice moved to a position observable at that instant, issued then, so the listener
takes it as fresh); the afterglow appears at the notice's position at the same instant and fades
as ``t^-1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.config import SiteConfig

#: Minutes into the dark night of the default night's burst (``pyros night --grb-after-dark``).
GRB_AFTER_DARK_MIN = 240.0
#: The afterglow's magnitude 60 s after the trigger (bright: the follow-up's frames detect it).
AFTERGLOW_MAG = 13.0
#: Name of the notice file written beside the scenario.
NOTICE_FILE = "grb-notice.xml"


@dataclass(frozen=True)
class NightGrb:
    """The burst a scenario carries: its notice, where and when."""

    ivorn: str
    ra_deg: float
    dec_deg: float
    at: datetime
    items: tuple[dict[str, Any], ...]


def grb_items(
    folder: Path,
    config: SiteConfig,
    clock_start: datetime,
    at_s: float,
    notice_file: str = NOTICE_FILE,
) -> NightGrb:
    """Write the notice of a burst at ``at_s`` run seconds into ``folder`` (as ``notice_file``);
    returns the scenario items that send it to the broker and put its afterglow in the sky at
    that instant."""
    # Import time: the drill notice loads astropy (not paid by every CLI command).
    from tasks.alerts.drill import drill_notice

    at = clock_start + timedelta(seconds=at_s)
    notice = drill_notice(config, at)
    folder.mkdir(parents=True, exist_ok=True)
    written = folder / notice_file
    written.write_bytes(notice.raw)
    afterglow = {
        "ra_deg": notice.ra_deg,
        "dec_deg": notice.dec_deg,
        "magnitude": AFTERGLOW_MAG,
        "decay_index": 1.0,
        "name": "GRB drill afterglow",
    }
    items = (
        {"time": round(at_s), "alertSimulator": str(written)},
        {"time": round(at_s), "afterglowSimulator": afterglow},
    )
    return NightGrb(notice.ivorn, notice.ra_deg, notice.dec_deg, at, items)


def scenario_with_grb(
    base: Path,
    folder: Path,
    config: SiteConfig,
    clock_start: datetime,
    at_s: float,
) -> tuple[Path, NightGrb]:
    """``base`` with a burst at ``at_s`` run seconds, written into ``folder``."""
    from simulators.scenario_edit import with_items

    grb = grb_items(folder, config, clock_start, at_s)
    return with_items(base, grb.items, folder / "night-with-grb.json"), grb
