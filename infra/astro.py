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
    _use_cached_iers_table()
    _configured = True


def _iers_cache_file():
    """Where the parsed Earth-orientation table is cached (per library versions)."""
    import os
    import sys
    from pathlib import Path

    import astropy
    import numpy

    try:
        from importlib.metadata import version

        data_version = version("astropy-iers-data")
    except Exception:
        data_version = "unknown"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pyros"
    python = ".".join(str(part) for part in sys.version_info[:2])
    key = f"{astropy.__version__}-{data_version}-{numpy.__version__}-py{python}"
    return base / f"iers-auto-{key.replace(' ', '').replace(',', '.')}.pickle"


def _use_cached_iers_table() -> None:
    """Load the Earth-orientation (IERS) table from a pickle instead of re-parsing its text.

    Astropy parses the bundled IERS-A text table on the first sky transform of every process
    (~0.8 s on the development machines), which alone would put one-shot commands such as
    ``pyros alert ingest`` over their 2 s budget. The parsed table is pickled once per library
    version under ``$XDG_CACHE_HOME/pyros`` (default ``~/.cache/pyros``); any problem falls back
    to astropy's own loading.
    """
    import os
    import pickle
    import tempfile

    from astropy.utils import iers

    try:
        path = _iers_cache_file()
        if path.is_file():
            with path.open("rb") as handle:
                table = pickle.load(handle)
        else:
            table = iers.IERS_Auto.open()
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(table, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        if isinstance(table, iers.IERS):
            iers.earth_orientation_table.set(table)
    except Exception:  # pragma: no cover - a cache problem must never stop astronomy
        return


@lru_cache(maxsize=4)
def _location(lat: float, lon: float, height: float) -> EarthLocation:
    import astropy.units as u
    from astropy.coordinates import EarthLocation

    return EarthLocation(lat=lat * u.deg, lon=lon * u.deg, height=height * u.m)


def site_location(site: SiteSection) -> EarthLocation:
    """The observatory as an :class:`~astropy.coordinates.EarthLocation`."""
    configure_astropy()
    return _location(site.latitude_deg, site.longitude_deg, site.elevation_m)
