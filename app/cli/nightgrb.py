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
#: The tile (in the follow-up's order) of a large box's afterglow (``--grb-error-deg``).
AFTERGLOW_TILE = 6
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
    error_deg: float | None = None,
) -> NightGrb:
    """Write the notice of a burst at ``at_s`` run seconds into ``folder`` (as ``notice_file``);
    returns the scenario items that send it to the broker and put its afterglow in the sky at
    that instant.

    With ``error_deg``, the notice is a Fermi GBM one with that error radius, and the afterglow
    lies away from the box's centre, in the tile :func:`afterglow_position` chooses.
    """
    # Import time: the drill notice loads astropy (not paid by every CLI command).
    from tasks.alerts.drill import drill_notice

    at = clock_start + timedelta(seconds=at_s)
    notice = drill_notice(config, at, error_deg)
    folder.mkdir(parents=True, exist_ok=True)
    written = folder / notice_file
    written.write_bytes(notice.raw)
    ra, dec = afterglow_position(notice.ra_deg, notice.dec_deg, error_deg, config)
    afterglow = {
        "ra_deg": ra,
        "dec_deg": dec,
        "magnitude": AFTERGLOW_MAG,
        "decay_index": 1.0,
        "name": "GRB drill afterglow",
    }
    items = (
        {"time": round(at_s), "alertSimulator": str(written)},
        {"time": round(at_s), "afterglowSimulator": afterglow},
    )
    return NightGrb(notice.ivorn, notice.ra_deg, notice.dec_deg, at, items)


def afterglow_position(
    ra_deg: float, dec_deg: float, error_deg: float | None, config: SiteConfig
) -> tuple[float, float]:
    """Where the afterglow of a burst at (RA, Dec) shines.

    A small circle's: at the position. A tiled box's: in tile :data:`AFTERGLOW_TILE` of the
    strategy's order (or its last), a fifth of a field north-east of that tile's centre, so
    that only a search of that tile, not the circle's centre, can find it. A box no strategy
    covers: at the position (the burst is decided not followed anyway).
    """
    if error_deg is None:
        return ra_deg, dec_deg
    # Import time: the strategies load the request path (not paid by every CLI command).
    from tasks.alerts.strategy import Coverage, choose_strategy, sky_positions

    coverage = choose_strategy("Fermi", error_deg, config)
    if not isinstance(coverage, Coverage) or coverage.tiles == 1:
        return ra_deg, dec_deg
    east, north = coverage.offsets[min(AFTERGLOW_TILE, coverage.tiles) - 1]
    shift = 0.2 * coverage.field_deg
    ((ra, dec),) = sky_positions(ra_deg, dec_deg, [(east + shift, north + shift)])
    return ra, dec


def scenario_with_grb(
    base: Path,
    folder: Path,
    config: SiteConfig,
    clock_start: datetime,
    at_s: float,
    error_deg: float | None = None,
) -> tuple[Path, NightGrb]:
    """``base`` with a burst at ``at_s`` run seconds (a large box's with ``error_deg``), written
    into ``folder``."""
    from simulators.scenario_edit import with_items

    grb = grb_items(folder, config, clock_start, at_s, error_deg=error_deg)
    return with_items(base, grb.items, folder / "night-with-grb.json"), grb
