"""Astropy set-up: never download at run time, and the site as an astropy location; and the
Moffat profile's core width, the one formula the sky renderer and the image pipeline share.

Import :func:`configure_astropy` (or anything from here) before any astropy computation: it turns
IERS auto-download and internet access off and uses the tables bundled with astropy-iers-data.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import warnings
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from astropy.coordinates import EarthLocation

    from infra.config import SiteSection

_configured = False

# Astropy (and erfa, which comes with it) is imported inside the functions that use it: importing
# it costs about a second, which commands that never touch the sky must not pay.


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


def _iers_cache_file() -> Path:
    """Where the parsed Earth-orientation table is cached (per library versions)."""
    import astropy

    try:
        data_version = version("astropy-iers-data")
    except Exception:
        data_version = "unknown"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pyros"
    python = ".".join(str(part) for part in sys.version_info[:2])
    key = f"{astropy.__version__}-{data_version}-{np.__version__}-py{python}"
    return base / f"iers-auto-{key.replace(' ', '').replace(',', '.')}.pickle"


def _use_cached_iers_table() -> None:
    """Load the Earth-orientation (IERS) table from a pickle instead of re-parsing its text.

    Astropy parses the bundled IERS-A text table on the first sky transform of every process
    (~0.8 s on the development machines), which alone would put one-shot commands such as
    ``pyros alert ingest`` over their 2 s budget. The parsed table is pickled once per library
    version under ``$XDG_CACHE_HOME/pyros`` (default ``~/.cache/pyros``); any problem falls back
    to astropy's own loading.
    """
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


def moffat_alpha(fwhm: float | npt.NDArray[np.float64], beta: float) -> npt.NDArray[np.float64]:
    """Moffat core width ``alpha`` for a FWHM (same unit): ``FWHM = 2 alpha sqrt(2**(1/beta) - 1)``.

    The profile ``I(r) ∝ (1 + r²/alpha²)**-beta`` is the point-spread function the sky renderer
    stamps and the pipeline's curve of growth and signal-to-noise definition assume.
    """
    alpha: npt.NDArray[np.float64] = np.asarray(fwhm, dtype=float) / (
        2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0)
    )
    return alpha
