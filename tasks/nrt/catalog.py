"""The reference catalog the analysis matches against: a protocol, and a per-consumer cache.

Any object with ``query(ra_deg, dec_deg, radius_deg, filter_name)`` returning an astropy Table
(``source_id``, ``ra``, ``dec``, ``pos_err_arcsec``, ``mag``, ``mag_err``) is a catalog: the sky
renderer's survey catalog in simulation, a real cone search in production. The choice is made
by name in :mod:`tasks.nrt.runner` from the configuration.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ReferenceCatalog(Protocol):
    """A cone search returning an astropy Table, brightest first.

    Columns: ``source_id`` (int64), ``ra``, ``dec`` (degrees, ICRS), ``pos_err_arcsec``, ``mag``,
    ``mag_err`` (magnitudes in the requested filter); ``meta["mag_limit"]`` when known.
    """

    def query(self, ra_deg: float, dec_deg: float, radius_deg: float, filter_name: str):
        """Catalog stars within ``radius_deg`` of (RA, Dec) with magnitudes in ``filter_name``."""
        ...


@dataclass(frozen=True)
class CatalogStars:
    """Catalog stars as plain arrays (what the matching needs), with the catalog's depth."""

    source_id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    pos_err_arcsec: np.ndarray
    mag: np.ndarray
    mag_err: np.ndarray
    mag_limit: float | None

    def __len__(self) -> int:
        return len(self.ra)

    @classmethod
    def from_table(cls, table) -> CatalogStars:
        """From a catalog query's Table (missing error columns become zeros)."""
        n = len(table)

        def column(name: str, dtype=float, default=0.0) -> np.ndarray:
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


class CatalogCache:
    """Queries of one catalog, remembered per (field, radius, filter): frames repeat pointings.

    Parameters
    ----------
    catalog : ReferenceCatalog
        The catalog queried on a miss.
    max_fields : int
        Fields kept in memory (least recently used beyond).
    grid_deg : float
        Pointings are rounded to this grid for the cache key; the query itself covers the rounded
        centre with the radius enlarged by the rounding, so nothing at the edge is lost.
    """

    def __init__(self, catalog: ReferenceCatalog, max_fields: int = 16, grid_deg: float = 0.01):
        if not isinstance(catalog, ReferenceCatalog):
            raise TypeError(f"{type(catalog).__name__} has no query(ra, dec, radius, filter)")
        self.catalog = catalog
        self.max_fields = max_fields
        self.grid_deg = grid_deg
        self.queries = 0
        self._fields: OrderedDict[tuple, CatalogStars] = OrderedDict()

    def stars(self, ra_deg: float, dec_deg: float, radius_deg: float, filter_name: str):
        """Catalog stars within ``radius_deg`` of the position (possibly a few more)."""
        grid = self.grid_deg
        key_dec = round(dec_deg / grid) * grid
        cos_dec = max(np.cos(np.radians(key_dec)), 1e-3)
        ra_grid = grid / cos_dec
        key_ra = (round(ra_deg / ra_grid) * ra_grid) % 360.0
        key_radius = np.ceil(radius_deg / grid) * grid + grid
        key = (round(key_ra, 8), round(key_dec, 8), round(key_radius, 8), filter_name)
        stars = self._fields.get(key)
        if stars is None:
            table = self.catalog.query(key_ra, key_dec, float(key_radius), filter_name)
            stars = CatalogStars.from_table(table)
            self.queries += 1
            self._fields[key] = stars
            while len(self._fields) > self.max_fields:
                self._fields.popitem(last=False)
        self._fields.move_to_end(key)
        return stars
