"""The synthetic star catalog: deterministic per sky cell, with realistic number counts.

**Cells.** The sphere is cut into declination bands of height ``cell_size_deg``; band ``j`` has
``n_j = max(1, round(360 cos(dec_mid) / cell_size_deg))`` cells of equal RA width, so cells are
close to equal area. Cell ``(j, i)``'s stars are drawn from the stream ``(seed, "stars", size, j,
i)``: the same pointing always shows the same stars, whichever frame or query asks.

**Counts.** Differential counts in the reference filter, per square degree per magnitude::

    dN/dm = density * 10**(slope * (m - reference_mag)) * (1 / sin max(|b|, b_min))**exponent

with ``b`` the galactic latitude of the cell centre. A cell's count is Poisson with the integral of
that over its solid angle and ``[star_mag_bright, star_mag_faint]``; positions are uniform on the
sphere within the cell; magnitudes follow the exponential law exactly (inverse CDF). Each star gets
a colour index ``c ~ N(colour_mean, colour_sigma)``; its magnitude in filter ``f`` is
``m_ref + colour_offset_mag(f) + colour_coefficient(f) * c``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from infra.astro import configure_astropy
from infra.config_sky import SkyFilter, SkySection
from simulators.sky.seeds import generator

configure_astropy()

import astropy.units as u  # noqa: E402
from astropy.coordinates import SkyCoord  # noqa: E402

#: Source ids: ((band * 2**14 + cell) * 2**24 + index) — unique over the sky, shared with the
#: reference catalog so a catalog entry can be traced to its true star.
_CELL_BITS = 14
_INDEX_BITS = 24

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class StarModel:
    """The hashable part of ``[sky]`` that decides the catalog (used as a cache key)."""

    seed: int
    cell_size_deg: float
    density: float
    reference_mag: float
    slope: float
    latitude_exponent: float
    latitude_min_deg: float
    mag_bright: float
    mag_faint: float
    colour_mean: float
    colour_sigma: float

    @classmethod
    def from_config(cls, sky: SkySection, seed: int | None = None) -> StarModel:
        """The star model of a ``[sky]`` section (``seed`` overrides ``sky.seed``)."""
        return cls(
            seed=sky.seed if seed is None else int(seed),
            cell_size_deg=sky.cell_size_deg,
            density=sky.star_density_per_deg2_mag,
            reference_mag=sky.star_reference_mag,
            slope=sky.star_count_slope,
            latitude_exponent=sky.star_latitude_exponent,
            latitude_min_deg=sky.star_latitude_min_deg,
            mag_bright=sky.star_mag_bright,
            mag_faint=sky.star_mag_faint,
            colour_mean=sky.star_colour_mean,
            colour_sigma=sky.star_colour_sigma,
        )

    def latitude_factor(self, b_deg: float | Floats) -> Floats:
        """Density relative to the galactic pole at galactic latitude ``b_deg``."""
        b = np.maximum(np.abs(np.asarray(b_deg, dtype=float)), self.latitude_min_deg)
        factor: Floats = (1.0 / np.sin(np.radians(b))) ** self.latitude_exponent
        return factor

    def counts_per_deg2(self, m1: float, m2: float, b_deg: float | Floats = 90.0) -> Floats:
        """Expected stars per square degree with reference magnitude in ``[m1, m2)``."""
        lo, hi = max(m1, self.mag_bright), min(m2, self.mag_faint)
        if hi <= lo:
            return 0.0 * self.latitude_factor(b_deg)
        if self.slope == 0:
            integral = hi - lo
        else:
            k = self.slope * math.log(10.0)
            integral = (
                math.exp(k * (hi - self.reference_mag)) - math.exp(k * (lo - self.reference_mag))
            ) / k
        return self.density * integral * self.latitude_factor(b_deg)

    def draw_magnitudes(self, rng: np.random.Generator, n: int) -> Floats:
        """``n`` reference magnitudes from the exponential law on ``[mag_bright, mag_faint]``."""
        u_ = rng.random(n)
        if self.slope == 0:
            return self.mag_bright + u_ * (self.mag_faint - self.mag_bright)
        k = self.slope * math.log(10.0)
        lo = math.exp(k * (self.mag_bright - self.mag_faint))
        return self.mag_faint + np.log(lo + u_ * (1.0 - lo)) / k


@dataclass(frozen=True)
class Cell:
    """One catalog cell: band ``j``, index ``i`` in the band, and its bounds in degrees."""

    j: int
    i: int
    ra_min: float
    ra_max: float
    dec_min: float
    dec_max: float

    @property
    def area_deg2(self) -> float:
        """Solid angle in square degrees."""
        dsin = math.sin(math.radians(self.dec_max)) - math.sin(math.radians(self.dec_min))
        return (self.ra_max - self.ra_min) * dsin * 180.0 / math.pi

    @property
    def centre(self) -> tuple[float, float]:
        """(RA, Dec) of the cell centre, degrees."""
        return (0.5 * (self.ra_min + self.ra_max), 0.5 * (self.dec_min + self.dec_max))


def _bands(cell_size_deg: float) -> int:
    return max(1, round(180.0 / cell_size_deg))


def band_cells(j: int, cell_size_deg: float) -> int:
    """Number of cells in declination band ``j``."""
    n_bands = _bands(cell_size_deg)
    height = 180.0 / n_bands
    dec_mid = -90.0 + (j + 0.5) * height
    return max(1, round(360.0 * math.cos(math.radians(dec_mid)) / height))


def cell(j: int, i: int, cell_size_deg: float) -> Cell:
    """Cell ``(j, i)``."""
    n_bands = _bands(cell_size_deg)
    height = 180.0 / n_bands
    n = band_cells(j, cell_size_deg)
    width = 360.0 / n
    dec_min = -90.0 + j * height
    return Cell(j, i, i * width, (i + 1) * width, dec_min, dec_min + height)


def cells_in_cone(
    ra_deg: float, dec_deg: float, radius_deg: float, cell_size_deg: float
) -> list[Cell]:
    """Every cell that may hold a star within ``radius_deg`` of (RA, Dec) (a superset)."""
    n_bands = _bands(cell_size_deg)
    height = 180.0 / n_bands
    dec_lo, dec_hi = max(-90.0, dec_deg - radius_deg), min(90.0, dec_deg + radius_deg)
    j_lo = max(0, math.floor((dec_lo + 90.0) / height))
    j_hi = min(n_bands - 1, math.floor((dec_hi + 90.0) / height))
    widest = max(abs(dec_lo), abs(dec_hi))
    cos_w = math.cos(math.radians(min(widest, 89.999)))
    half_ra = radius_deg / cos_w if dec_hi < 90.0 and dec_lo > -90.0 else 180.0
    cells: list[Cell] = []
    for j in range(j_lo, j_hi + 1):
        n = band_cells(j, cell_size_deg)
        width = 360.0 / n
        indices: Iterable[int]
        if half_ra >= 180.0 - width:
            indices = range(n)
        else:
            first = math.floor((ra_deg - half_ra) / width)
            last = math.floor((ra_deg + half_ra) / width)
            indices = sorted({k % n for k in range(first, last + 1)})
        cells.extend(cell(j, i, cell_size_deg) for i in indices)
    return cells


@lru_cache(maxsize=1)
def _galactic_pole() -> Floats:
    """Unit vector (ICRS) of the north galactic pole, from astropy's frame definition."""
    pole = SkyCoord(l=0 * u.deg, b=90 * u.deg, frame="galactic").icrs
    return np.array(pole.cartesian.xyz.value, dtype=float)


def galactic_latitude_deg(ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike) -> Floats:
    """Galactic latitude (degrees) of ICRS positions (vectorised; no frame transform per call)."""
    ra = np.radians(np.atleast_1d(np.asarray(ra_deg, dtype=float)))
    dec = np.radians(np.atleast_1d(np.asarray(dec_deg, dtype=float)))
    xyz = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    latitude: Floats = np.degrees(np.arcsin(np.clip(_galactic_pole() @ xyz, -1.0, 1.0)))
    return latitude


@dataclass(frozen=True)
class Stars:
    """A set of stars: id, position (degrees), reference magnitude and colour index."""

    source_id: npt.NDArray[np.int64]
    ra: Floats
    dec: Floats
    mag_ref: Floats
    colour: Floats

    def __len__(self) -> int:
        return len(self.source_id)

    def take(self, mask_or_index: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Stars:
        """The subset selected by a boolean mask or index array."""
        return Stars(
            self.source_id[mask_or_index],
            self.ra[mask_or_index],
            self.dec[mask_or_index],
            self.mag_ref[mask_or_index],
            self.colour[mask_or_index],
        )

    def magnitudes(self, filt: SkyFilter) -> Floats:
        """Magnitudes in ``filt`` (above the atmosphere)."""
        return self.mag_ref + filt.colour_offset_mag + filt.colour_coefficient * self.colour

    @staticmethod
    def concatenate(parts: list[Stars]) -> Stars:
        """One set from several."""
        if not parts:
            empty = np.empty(0)
            return Stars(np.empty(0, dtype=np.int64), empty, empty, empty, empty)
        return Stars(*(np.concatenate([getattr(p, f) for p in parts]) for f in _STAR_FIELDS))


_STAR_FIELDS = ("source_id", "ra", "dec", "mag_ref", "colour")


@lru_cache(maxsize=1024)
def cell_stars(model: StarModel, j: int, i: int) -> Stars:
    """The stars of cell ``(j, i)`` (deterministic; cached)."""
    c = cell(j, i, model.cell_size_deg)
    ra_c, dec_c = c.centre
    b = float(galactic_latitude_deg(np.array([ra_c]), np.array([dec_c]))[0])
    expected = c.area_deg2 * float(model.counts_per_deg2(model.mag_bright, model.mag_faint, b))
    rng = generator(model.seed, "stars", model.cell_size_deg, j, i)
    n = int(rng.poisson(expected))
    if n >= 2**_INDEX_BITS:
        raise ValueError(f"cell ({j}, {i}) would hold {n} stars: reduce cell_size_deg")
    ra = c.ra_min + rng.random(n) * (c.ra_max - c.ra_min)
    s1, s2 = math.sin(math.radians(c.dec_min)), math.sin(math.radians(c.dec_max))
    dec = np.degrees(np.arcsin(np.clip(s1 + rng.random(n) * (s2 - s1), -1.0, 1.0)))
    mag = model.draw_magnitudes(rng, n)
    colour = model.colour_mean + model.colour_sigma * rng.standard_normal(n)
    base = ((j << _CELL_BITS) + i) << _INDEX_BITS
    ids = base + np.arange(n, dtype=np.int64)
    for array in (ids, ra, dec, mag, colour):
        array.flags.writeable = False
    return Stars(ids, ra, dec, mag, colour)


def angular_distance_deg(ra1: Floats, dec1: Floats, ra2: float, dec2: float) -> Floats:
    """Great-circle distance (degrees) from arrays of positions to one position (haversine)."""
    r1, d1, r2, d2 = (np.radians(v) for v in (ra1, dec1, ra2, dec2))
    h = np.sin((d1 - d2) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r1 - r2) / 2) ** 2
    distance: Floats = np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))
    return distance


def stars_in_cone(model: StarModel, ra_deg: float, dec_deg: float, radius_deg: float) -> Stars:
    """Every catalog star within ``radius_deg`` of (RA, Dec)."""
    cells = cells_in_cone(ra_deg, dec_deg, radius_deg, model.cell_size_deg)
    stars = Stars.concatenate([cell_stars(model, c.j, c.i) for c in cells])
    if not len(stars):
        return stars
    return stars.take(angular_distance_deg(stars.ra, stars.dec, ra_deg, dec_deg) <= radius_deg)
