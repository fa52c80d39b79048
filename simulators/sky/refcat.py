"""The reference catalog the image pipeline queries: the renderer's stars as a survey saw them.

Not the render truth: every entry has a position error and a photometric error drawn once per
star (so repeated queries agree), with stated uncertainties that grow towards the magnitude
limit: positions scatter by ``refcat_position_error_arcsec`` (floor) plus
``refcat_position_error_at_limit_arcsec`` scaled as 1/SNR; photometry has Gaussian flux noise
giving ``refcat_mag_error_at_limit`` at the limit plus a ``refcat_mag_error_floor``. The catalog
stops at ``refcat_mag_limit`` applied to the *measured* magnitude, as a real survey's limit is.
Transients are never in it.

It is one implementation of :class:`infra.refcat.ReferenceCatalog`, registered as ``simulated``
in the ``pyros.reference_catalogs`` entry points (``pyproject.toml``): the pipeline is handed it
by configuration (``[nrt] reference_catalog``), never imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from astropy.table import Table

from infra.config import SiteConfig
from infra.config_sky import SkySection
from simulators.sky.catalog import StarModel, angular_distance_deg, cell_stars, cells_in_cone
from simulators.sky.seeds import generator

#: One sky cell's catalog entries, column by column (:data:`_COLUMNS`).
CellColumns = dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]]


class SimulatedReferenceCatalog:
    """The renderer's sky seen through a survey (see the module docstring).

    Parameters
    ----------
    sky : SkySection
        The ``[sky]`` configuration (star model, filters, catalog errors and limit).
    seed : int, optional
        Overrides ``sky.seed`` (must match the frames' seed to describe their sky).
    """

    def __init__(self, sky: SkySection, seed: int | None = None) -> None:
        self.sky = sky
        self.model = StarModel.from_config(sky, seed)

    @classmethod
    def from_site(cls, config: SiteConfig, seed: int | None = None) -> SimulatedReferenceCatalog:
        """The catalog of a site configuration."""
        return cls(config.sky, seed)

    def query(self, ra_deg: float, dec_deg: float, radius_deg: float, filter_name: str) -> Table:
        """Catalog stars within ``radius_deg`` of (RA, Dec), brightest first.

        Raises
        ------
        ValueError
            Unknown or opaque filter, or a radius outside (0, 10] degrees.
        """
        filt = self.sky.filters.get(filter_name)
        if filt is None:
            raise ValueError(f"filter {filter_name!r} is not in the reference catalog")
        if filt.opaque:
            raise ValueError(f"filter {filter_name!r} is opaque: no catalog magnitudes")
        if not 0.0 < radius_deg <= 10.0:
            raise ValueError(f"radius_deg must be within (0, 10] (got {radius_deg})")
        params = _Survey.from_config(self.sky, filter_name)
        parts = [
            _observed_cell(self.model, params, c.j, c.i)
            for c in cells_in_cone(ra_deg, dec_deg, radius_deg, self.model.cell_size_deg)
        ]
        columns = {k: np.concatenate([p[k] for p in parts]) for k in _COLUMNS}
        keep = angular_distance_deg(columns["ra"], columns["dec"], ra_deg, dec_deg) <= radius_deg
        order = np.argsort(columns["mag"][keep], kind="stable")
        table = Table({k: v[keep][order] for k, v in columns.items()})
        table.meta.update(filter=filter_name, mag_limit=self.sky.refcat_mag_limit, epoch="J2000")
        return table


_COLUMNS = ("source_id", "ra", "dec", "pos_err_arcsec", "mag", "mag_err")


@dataclass(frozen=True)
class _Survey:
    """The hashable survey parameters for one filter (a cache key)."""

    filter_name: str
    colour_offset_mag: float
    colour_coefficient: float
    mag_limit: float
    pos_floor: float
    pos_at_limit: float
    phot_floor: float
    phot_at_limit: float

    @classmethod
    def from_config(cls, sky: SkySection, filter_name: str) -> _Survey:
        filt = sky.filters[filter_name]
        return cls(
            filter_name,
            filt.colour_offset_mag,
            filt.colour_coefficient,
            sky.refcat_mag_limit,
            sky.refcat_position_error_arcsec,
            sky.refcat_position_error_at_limit_arcsec,
            sky.refcat_mag_error_floor,
            sky.refcat_mag_error_at_limit,
        )

    def position_errors(self, mag_ref: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Position error (arcsec): a floor, plus a term ∝ 1/SNR (from the reference band)."""
        scale = 10.0 ** (0.4 * (mag_ref - self.mag_limit))
        return np.hypot(self.pos_floor, self.pos_at_limit * scale)

    def measure(
        self, mag: npt.NDArray[np.float64], rng: np.random.Generator
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Survey photometry of true magnitudes: (measured mag, stated error, detected).

        Sky-limited noise is Gaussian in *flux* with a constant sigma (the survey's SNR at its
        limit is ``1.0857 / phot_at_limit``), plus a calibration floor in magnitude: stars far
        below the limit almost never scatter into the catalog (no runaway Eddington bias).
        """
        flux = 10.0 ** (-0.4 * (mag - self.mag_limit))  # 1 at the limit
        sigma_flux = self.phot_at_limit / 1.0857362
        measured = flux + rng.standard_normal(len(mag)) * sigma_flux
        floor = rng.standard_normal(len(mag)) * self.phot_floor
        positive = measured > 0
        measured_mag = np.full(len(mag), np.inf)
        measured_mag[positive] = self.mag_limit - 2.5 * np.log10(measured[positive])
        measured_mag += floor
        error = np.hypot(self.phot_floor, 1.0857362 * sigma_flux / np.where(positive, measured, 1))
        return measured_mag, error, positive & (measured_mag <= self.mag_limit)


@lru_cache(maxsize=512)
def _observed_cell(model: StarModel, survey: _Survey, j: int, i: int) -> CellColumns:
    stars = cell_stars(model, j, i)
    true_mag = stars.mag_ref + survey.colour_offset_mag + survey.colour_coefficient * stars.colour
    pos_err = survey.position_errors(stars.mag_ref)
    # One stream per cell for astrometry, one per (cell, filter) for photometry: a star's position
    # error is the same whichever filter is queried.
    rng_pos = generator(model.seed, "refcat-astrometry", model.cell_size_deg, j, i)
    rng_mag = generator(
        model.seed, "refcat-photometry", model.cell_size_deg, j, i, survey.filter_name
    )
    n = len(stars)
    d_north = rng_pos.standard_normal(n) * pos_err / 3600.0
    d_east = rng_pos.standard_normal(n) * pos_err / 3600.0
    dec = np.clip(stars.dec + d_north, -90.0, 90.0)
    ra = (stars.ra + d_east / np.maximum(np.cos(np.radians(stars.dec)), 1e-6)) % 360.0
    mag, mag_err, keep = survey.measure(true_mag, rng_mag)
    return {
        "source_id": stars.source_id[keep],
        "ra": ra[keep],
        "dec": dec[keep],
        "pos_err_arcsec": pos_err[keep],
        "mag": mag[keep],
        "mag_err": mag_err[keep],
    }
