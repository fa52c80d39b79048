"""The reference catalog as one consumer queries it: field by field, remembered.

The catalog itself is any :class:`infra.refcat.ReferenceCatalog` (the sky renderer's survey
catalog in simulation, a real cone search in production), handed to the consumer by
configuration (:func:`infra.refcat.load_reference_catalog`); the matching works on
:class:`infra.refcat.CatalogStars`.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from infra.refcat import CatalogStars, ReferenceCatalog

#: A cached query: rounded RA, Dec and radius (degrees), filter.
_FieldKey = tuple[float, float, float, str]


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

    def __init__(
        self, catalog: ReferenceCatalog, max_fields: int = 16, grid_deg: float = 0.01
    ) -> None:
        if not isinstance(catalog, ReferenceCatalog):
            raise TypeError(f"{type(catalog).__name__} has no query(ra, dec, radius, filter)")
        self.catalog = catalog
        self.max_fields = max_fields
        self.grid_deg = grid_deg
        self.queries = 0
        self._fields: OrderedDict[_FieldKey, CatalogStars] = OrderedDict()

    def stars(
        self, ra_deg: float, dec_deg: float, radius_deg: float, filter_name: str
    ) -> CatalogStars:
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
