"""Warm the decision path up at start: the first real alert must not pay for the imports and the
ephemerides (about 3 s cold). A made-up position notice goes through the pure path
(:func:`tasks.alerts.evaluate.evaluate`: parse, policy, sky computations); nothing is stored."""

from __future__ import annotations

import logging
from datetime import datetime

from infra.config import SiteConfig
from tasks.alerts.evaluate import evaluate
from tasks.alerts.identity import InMemoryHistory

log = logging.getLogger(__name__)

_TEMPLATE = """<?xml version='1.0' encoding='UTF-8'?>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0"
    ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_{stamp}-000" role="observation" version="2.0">
  <Who><AuthorIVORN>ivo://pyros.local/warmup</AuthorIVORN><Date>{when}</Date></Who>
  <What><Param name="Packet_Type" value="61"/><Param name="TrigID" value="{stamp}"/></What>
  <WhereWhen><ObsDataLocation><ObservatoryLocation id="GEOLUN"/><ObservationLocation>
    <AstroCoordSystem id="UTC-FK5-GEO"/>
    <AstroCoords coord_system_id="UTC-FK5-GEO">
      <Time unit="s"><TimeInstant><ISOTime>{when}</ISOTime></TimeInstant></Time>
      <Position2D unit="deg"><Name1>RA</Name1><Name2>Dec</Name2>
        <Value2><C1>{ra:.4f}</C1><C2>{dec:.4f}</C2></Value2><Error2Radius>0.05</Error2Radius>
      </Position2D>
    </AstroCoords>
  </ObservationLocation></ObsDataLocation></WhereWhen>
</voe:VOEvent>
"""


def warm_up(config: SiteConfig, now: datetime) -> None:
    """Decide a made-up notice at ``now`` with the pure path (errors only logged)."""
    when = now.strftime("%Y-%m-%dT%H:%M:%S")
    raw = _TEMPLATE.format(
        stamp=now.strftime("%H%M%S"), when=when, ra=0.0, dec=config.site.latitude_deg
    ).encode()
    try:
        decision = evaluate(raw, now, InMemoryHistory(), config)
        log.info("decision path warmed up (%s)", decision.decision)
    except Exception:  # only a warm-up
        log.exception("warm-up decision failed")
