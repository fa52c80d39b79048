"""Astropy set-up: never download at run time, and the site as an astropy location.

Import :func:`configure_astropy` (or anything from here) before any astropy computation: it turns
IERS auto-download and internet access off and uses the tables bundled with astropy-iers-data.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from astropy.coordinates import EarthLocation

    from infra.config import SiteSection

_configured = False


def configure_astropy() -> None:
    """Make astropy work offline, once per process (idempotent)."""
    global _configured
    if _configured:
        return
    from astropy.utils import iers
    from astropy.utils.data import conf as data_conf

    iers.conf.auto_download = False
    # The bundled IERS-A table ages; predictions beyond it are good to well under an arcsecond
    # for scheduling, so warn instead of failing.
    iers.conf.auto_max_age = None
    iers.conf.iers_degraded_accuracy = "ignore"
    data_conf.allow_internet = False
    try:
        from erfa import ErfaWarning

        warnings.filterwarnings("ignore", category=ErfaWarning, message=".*dubious year.*")
    except ImportError:  # pragma: no cover - erfa ships with astropy
        pass
    warnings.filterwarnings("ignore", message=".*polar motion.*after IERS data is valid.*")
    _configured = True


@lru_cache(maxsize=4)
def _location(lat: float, lon: float, height: float) -> EarthLocation:
    import astropy.units as u
    from astropy.coordinates import EarthLocation

    return EarthLocation(lat=lat * u.deg, lon=lon * u.deg, height=height * u.m)


def site_location(site: SiteSection) -> EarthLocation:
    """The observatory as an :class:`~astropy.coordinates.EarthLocation`."""
    configure_astropy()
    return _location(site.latitude_deg, site.longitude_deg, site.elevation_m)
