"""The ``fake-alert`` drill's notice: the bundled Swift BAT position notice (GRB 181213's,
``tasks/alerts/data/``; for a large error box, the Fermi GBM one of GRB 201016A) moved to a
position observable now, issued now, with a trigger id of its own, so the stack decides it as a
new burst to follow up (when the sky allows: in daytime no position is observable, and the
notice is moved to the highest one, far from the moon).

Pure: the instant and the site come in; the bytes go out (the flow sends them to the broker).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files

import numpy as np
from lxml import etree

from infra.config import SiteConfig

TEMPLATE = "drill_swift_bat_grb_pos.xml"
#: A large error box's drill: the Fermi GBM final position notice of GRB 201016A.
GBM_TEMPLATE = "drill_fermi_gbm_fin_pos.xml"
#: Drill trigger ids start here (far above Swift's real ones, about 1.3 million in 2026).
DRILL_TRIGGER_BASE = 900_000_000


@dataclass(frozen=True)
class DrillNotice:
    """A drill notice and where it points."""

    raw: bytes
    ivorn: str
    ra_deg: float
    dec_deg: float
    altitude_deg: float
    observable: bool
    reason: str


def observable_position(config: SiteConfig, now: datetime) -> tuple[float, float]:
    """The highest position of a grid around the zenith that is far enough from the moon."""
    # Import time: tasks.sky loads astropy.coordinates (not paid by importers of this module).
    from tasks.sky import altitudes_deg, as_time, moon_separation_deg

    lat = config.site.latitude_deg
    ra_grid, dec_grid = np.meshgrid(
        np.arange(0.0, 360.0, 5.0), np.clip(lat + np.arange(-30.0, 31.0, 5.0), -89.0, 89.0)
    )
    ra, dec = ra_grid.ravel(), dec_grid.ravel()
    time = as_time(now)
    altitude = altitudes_deg(ra, dec, time, config)[:, 0]
    moon = moon_separation_deg(ra, dec, time, config)[:, 0]
    far = moon >= config.limits.min_moon_distance_deg + 5.0
    best = int(np.argmax(np.where(far, altitude, altitude - 180.0)))
    return float(ra[best]), float(dec[best])


def drill_notice(config: SiteConfig, now: datetime, error_deg: float | None = None) -> DrillNotice:
    """The bundled notice moved to :func:`observable_position` at ``now`` (an aware UTC
    datetime), issued now; trigger id and IVORN from the instant (one drill per second).

    With ``error_deg``, the notice is the bundled Fermi GBM final position (GRB 201016A's)
    with that error radius instead: a large error box, which the follow-up tiles.
    """
    # Import time: tasks.sky loads astropy.coordinates (not paid by importers of this module).
    from tasks.sky import visibility_at

    if error_deg is not None and not 0.0 < error_deg <= 180.0:
        raise ValueError(f"a drill's error radius must be within (0, 180] deg (got {error_deg})")
    ra, dec = observable_position(config, now)
    trigger = DRILL_TRIGGER_BASE + int(now.timestamp()) % 100_000_000
    if error_deg is None:
        ivorn = f"ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_{trigger}-000"
        template_name = TEMPLATE
    else:
        ivorn = f"ivo://nasa.gsfc.gcn/Fermi#GBM_Fin_Pos{now:%Y-%m-%dT%H:%M:%S}_{trigger}_0-000"
        template_name = GBM_TEMPLATE
    template = files("tasks.alerts").joinpath("data", template_name).read_bytes()
    root = etree.fromstring(template, etree.XMLParser(resolve_entities=False, no_network=True))
    for citations in root.findall("Citations"):  # the template's own burst is not this one
        root.remove(citations)
    if error_deg is not None:
        root.find(".//Error2Radius").text = f"{error_deg:.4f}"
    root.set("ivorn", ivorn)
    for param in root.iter("Param"):
        if param.get("name") == "TrigID":
            param.set("value", str(trigger))
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S")
    root.find("Who/Date").text = stamp
    root.find(".//ISOTime").text = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]
    root.find(".//C1").text = f"{ra:.4f}"
    root.find(".//C2").text = f"{dec:.4f}"
    name = root.find(".//Why/Inference/Name")
    if name is not None:
        name.text = f"PyROS drill {stamp}"
    raw = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    sky = visibility_at(ra, dec, now, config)
    return DrillNotice(raw, ivorn, ra, dec, sky.altitude_deg, sky.observable, sky.reason)
