"""Where the sky lands on the detector: the true WCS (TAN-SIP) and the header's initial WCS.

The mount believes it points at the commanded position; the header WCS says so (TAN, nominal
pixel scale, north up, east left, no distortion). The telescope really points elsewhere:

- a **pointing error** of ``pointing_error_arcsec`` in a direction drawn from the commanded
  position (rounded to 0.01°): the same pointing repeats the same error, as a mount model's
  residual does;
- a per-frame **jitter** (``pointing_jitter_arcsec`` rms per axis, drawn from the frame's seed);
- a field **rotation error** (``rotation_error_deg``, same draw as the pointing error);
- **distortion**: a radial cubic SIP term giving ``sip_amplitude_px`` at the frame corner, plus
  small random quadratic and cubic terms (a tenth of that amplitude).

The true WCS maps every rendered source (its truth position) to the pixel where it was drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from infra.astro import configure_astropy
from infra.config import InstrumentSection
from infra.config_sky import SkySection
from simulators.sky.seeds import generator

configure_astropy()

import astropy.units as u  # noqa: E402
from astropy.coordinates import SkyCoord  # noqa: E402
from astropy.wcs import WCS, Sip  # noqa: E402

SIP_ORDER = 3


@dataclass(frozen=True)
class Pointing:
    """Commanded and true centre of the field, and the error between them."""

    commanded_ra: float
    commanded_dec: float
    true_ra: float
    true_dec: float
    error_arcsec: float
    error_pa_deg: float
    rotation_deg: float


def true_pointing(
    sky: SkySection, ra_deg: float, dec_deg: float, seed: int, frame_rng: np.random.Generator
) -> Pointing:
    """Where the telescope really points when commanded to (``ra_deg``, ``dec_deg``)."""
    rng = generator(seed, "pointing", round(ra_deg % 360.0, 2), round(dec_deg, 2))
    pa = float(rng.uniform(0.0, 360.0))
    rotation = float(rng.uniform(-1.0, 1.0)) * sky.rotation_error_deg
    commanded = SkyCoord(ra_deg * u.deg, dec_deg * u.deg)
    moved = commanded.directional_offset_by(pa * u.deg, sky.pointing_error_arcsec * u.arcsec)
    if sky.pointing_jitter_arcsec > 0:
        jx, jy = frame_rng.standard_normal(2) * sky.pointing_jitter_arcsec
        moved = moved.spherical_offsets_by(jx * u.arcsec, jy * u.arcsec)
    return Pointing(
        commanded_ra=ra_deg % 360.0,
        commanded_dec=dec_deg,
        true_ra=float(moved.ra.deg),
        true_dec=float(moved.dec.deg),
        error_arcsec=float(commanded.separation(moved).arcsec),
        error_pa_deg=float(commanded.position_angle(moved).deg),
        rotation_deg=rotation,
    )


def _tan_wcs(
    width: int, height: int, scale_arcsec: float, ra: float, dec: float, rotation_deg: float
) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [width / 2.0 + 0.5, height / 2.0 + 0.5]
    scale = scale_arcsec / 3600.0
    c, s = math.cos(math.radians(rotation_deg)), math.sin(math.radians(rotation_deg))
    # East left, north up, then rotated by rotation_deg.
    wcs.wcs.cd = np.array([[-scale * c, scale * s], [scale * s, scale * c]])
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.equinox = 2000.0
    return wcs


def header_wcs(instrument: InstrumentSection, pointing: Pointing) -> WCS:
    """The initial WCS written in the header: the mount's belief, no distortion."""
    return _tan_wcs(
        instrument.width,
        instrument.height,
        instrument.pixel_scale_arcsec,
        pointing.commanded_ra,
        pointing.commanded_dec,
        0.0,
    )


def sip_coefficients(
    sky: SkySection, instrument: InstrumentSection, seed: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """SIP ``A`` and ``B`` matrices (order 3) of the instrument's optics (fixed per camera)."""
    a = np.zeros((SIP_ORDER + 1, SIP_ORDER + 1))
    b = np.zeros_like(a)
    r_corner = math.hypot(instrument.width / 2.0, instrument.height / 2.0)
    amp = sky.sip_amplitude_px
    if amp == 0:
        return a, b
    k = amp / r_corner**3
    a[3, 0] = a[1, 2] = k  # Δx = k u (u² + v²)
    b[0, 3] = b[2, 1] = k  # Δy = k v (u² + v²)
    rng = generator(seed, "sip", instrument.name, instrument.width, instrument.height)
    for p in range(SIP_ORDER + 1):
        for q in range(SIP_ORDER + 1 - p):
            if p + q < 2:
                continue
            size = 0.1 * amp / r_corner ** (p + q)
            a[p, q] += rng.normal(0.0, size)
            b[p, q] += rng.normal(0.0, size)
    return a, b


def true_wcs(sky: SkySection, instrument: InstrumentSection, pointing: Pointing, seed: int) -> WCS:
    """The WCS the frame was really rendered with (TAN-SIP, true centre and rotation)."""
    wcs = _tan_wcs(
        instrument.width,
        instrument.height,
        instrument.pixel_scale_arcsec,
        pointing.true_ra,
        pointing.true_dec,
        pointing.rotation_deg,
    )
    if sky.sip_amplitude_px > 0:
        a, b = sip_coefficients(sky, instrument, seed)
        wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
        wcs.sip = Sip(a, b, None, None, wcs.wcs.crpix)
    return wcs


def world_to_pixel(
    wcs: WCS, ra: npt.NDArray[np.float64], dec: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """0-based pixel positions (pixel centres at integers) of sky positions, SIP included."""
    if len(ra) == 0:
        return np.empty(0), np.empty(0)
    x, y = wcs.all_world2pix(ra, dec, 0, tolerance=1e-7, maxiter=100, adaptive=False, quiet=True)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def pixel_to_world(
    wcs: WCS, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Sky positions (degrees) of 0-based pixel positions."""
    ra, dec = wcs.all_pix2world(x, y, 0)
    return np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)
