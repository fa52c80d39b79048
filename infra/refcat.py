"""The reference catalog: the one interface the image pipeline queries, the star record it matches
against, and the registry that picks an implementation by name.

Any object with ``query(ra_deg, dec_deg, radius_deg, filter_name)`` returning an astropy Table
(``source_id``, ``ra``, ``dec``, ``pos_err_arcsec``, ``mag``, ``mag_err``) is a
:class:`ReferenceCatalog`: the sky renderer's survey catalog in simulation, a real cone search in
production. The pipeline receives one; it never imports an implementation.

Implementations are declared as plugins, in the entry-point group :data:`ENTRY_POINT_GROUP` of
an installed distribution (``pyproject.toml``)::

    [project.entry-points."pyros.reference_catalogs"]
    simulated = "simulators.sky.refcat:SimulatedReferenceCatalog.from_site"

Each entry point names a factory called with the site configuration;
:func:`load_reference_catalog` builds the one named by ``[nrt] reference_catalog``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from astropy.table import Table

    from infra.config import SiteConfig

#: The entry-point group reference catalog implementations are registered in.
ENTRY_POINT_GROUP = "pyros.reference_catalogs"


@runtime_checkable
class ReferenceCatalog(Protocol):
    """A cone search returning an astropy Table, brightest first.

    Columns: ``source_id`` (int64), ``ra``, ``dec`` (degrees, ICRS), ``pos_err_arcsec``, ``mag``,
    ``mag_err`` (magnitudes in the requested filter); ``meta["mag_limit"]`` when known.
    """

    def query(self, ra_deg: float, dec_deg: float, radius_deg: float, filter_name: str) -> Table:
        """Catalog stars within ``radius_deg`` of (RA, Dec) with magnitudes in ``filter_name``."""
        ...


#: What an entry point of :data:`ENTRY_POINT_GROUP` names: the catalog of a site configuration.
ReferenceCatalogFactory = Callable[["SiteConfig"], ReferenceCatalog]


@dataclass(frozen=True)
class CatalogStars:
    """Catalog stars as plain arrays (what the matching needs), with the catalog's depth."""

    source_id: npt.NDArray[np.int64]
    ra: npt.NDArray[np.float64]
    dec: npt.NDArray[np.float64]
    pos_err_arcsec: npt.NDArray[np.float64]
    mag: npt.NDArray[np.float64]
    mag_err: npt.NDArray[np.float64]
    mag_limit: float | None

    def __len__(self) -> int:
        return len(self.ra)

    @classmethod
    def from_table(cls, table: Table) -> CatalogStars:
        """From a catalog query's Table (missing error columns become zeros)."""
        n = len(table)

        def column(name: str, dtype: type[Any] = float, default: float = 0.0) -> npt.NDArray[Any]:
            if name in table.colnames:
                return np.asarray(table[name], dtype=dtype)
            return np.full(n, default, dtype=dtype)

        limit = table.meta.get("mag_limit") if hasattr(table, "meta") else None
        return cls(
            source_id=column("source_id", np.int64, -1),
            ra=column("ra"),
            dec=column("dec"),
            pos_err_arcsec=column("pos_err_arcsec"),
            mag=column("mag"),
            mag_err=column("mag_err"),
            mag_limit=None if limit is None else float(limit),
        )


def registered_catalogs() -> dict[str, EntryPoint]:
    """The reference catalogs installed in :data:`ENTRY_POINT_GROUP`, by name."""
    return {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}


def load_reference_catalog(config: SiteConfig, name: str | None = None) -> ReferenceCatalog:
    """The reference catalog called ``name`` (default: ``[nrt] reference_catalog``).

    Raises
    ------
    ValueError
        No installed distribution registers ``name`` (the message lists the known names).
    TypeError
        What the entry point built has no ``query(ra, dec, radius, filter)``.
    """
    name = config.nrt.reference_catalog if name is None else name
    known = registered_catalogs()
    if name not in known:
        listed = (
            ", ".join(sorted(known)) or "none registered: is pyros installed (pip install -e .)?"
        )
        raise ValueError(f"nrt.reference_catalog: unknown catalog {name!r} (known: {listed})")
    factory: ReferenceCatalogFactory = known[name].load()
    catalog = factory(config)
    if not isinstance(catalog, ReferenceCatalog):
        raise TypeError(
            f"reference catalog {name!r} ({known[name].value}) built a {type(catalog).__name__}, "
            "which has no query(ra, dec, radius, filter)"
        )
    return catalog
