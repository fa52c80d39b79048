"""What the camera asks the renderer for, and what it gets back.

:class:`FrameRequest` is everything that determines a frame: instrument, image type, filter,
exposure, start time, commanded pointing, transients, and the seed. The same request renders the
same frame, byte for byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from devices.controllers.camera import ImageType

IMAGE_TYPES: tuple[str, ...] = tuple(kind.value for kind in ImageType)
#: Where a flat's light comes from: the twilight sky, or the lamp screen in the dome.
FLAT_SOURCES = ("twilight", "dome")


class FrameRequestError(ValueError):
    """A frame request cannot be rendered; the message names the field and the problem."""


@dataclass(frozen=True)
class Afterglow:
    """A fading point source: ``mag(t) = mag_t0 + 2.5 * alpha * log10(t / t0_s)``.

    ``t`` is the time since ``trigger_time``; ``mag_t0`` is the magnitude in the reference filter
    at ``t0_s``; other filters follow the spectrum ``F_nu ∝ nu**-beta``. Nothing is rendered before
    the trigger.
    """

    ra_deg: float
    dec_deg: float
    trigger_time: datetime
    mag_t0: float
    t0_s: float = 60.0
    alpha: float = 1.0
    beta: float = 0.8
    name: str = "afterglow"

    def __post_init__(self) -> None:
        if not -90.0 <= self.dec_deg <= 90.0:
            raise FrameRequestError(f"afterglow.dec_deg: must be within ±90 (got {self.dec_deg})")
        if not math.isfinite(self.ra_deg):
            raise FrameRequestError(f"afterglow.ra_deg: not a number ({self.ra_deg})")
        if self.trigger_time.tzinfo is None:
            raise FrameRequestError("afterglow.trigger_time: must be timezone-aware")
        if not self.t0_s > 0:
            raise FrameRequestError(f"afterglow.t0_s: must be > 0 (got {self.t0_s})")
        if not math.isfinite(self.mag_t0):
            raise FrameRequestError(f"afterglow.mag_t0: not a number ({self.mag_t0})")

    def mean_flux_factor(self, start: datetime, exposure_s: float) -> float:
        """Mean flux over the exposure relative to the flux at ``t0_s`` (0 before the trigger).

        The power law is integrated exactly over ``[start, start + exposure]``.
        """
        t1 = (start - self.trigger_time).total_seconds()
        t2 = t1 + exposure_s
        if t2 <= 0:
            return 0.0
        t1 = max(t1, 1e-3)  # the light starts at the trigger; avoid the t = 0 pole
        if t2 <= t1:
            return float((t1 / self.t0_s) ** -self.alpha)
        a = self.alpha
        if abs(a - 1.0) < 1e-9:
            integral = self.t0_s * math.log(t2 / t1)
        else:
            integral = self.t0_s**a * (t2 ** (1 - a) - t1 ** (1 - a)) / (1 - a)
        return float(integral / (t2 - t1))

    def colour_offset(self, wavelength_nm: float, reference_wavelength_nm: float) -> float:
        """Magnitude in a filter minus the reference filter's (AB, ``F_nu ∝ nu**-beta``)."""
        return -2.5 * self.beta * math.log10(wavelength_nm / reference_wavelength_nm)


@dataclass(frozen=True)
class FrameRequest:
    """One frame to render.

    Parameters
    ----------
    instrument : str
        Instrument name from ``[[instruments]]``.
    image_type : str
        ``light``, ``bias``, ``dark`` or ``flat``.
    start : datetime
        Exposure start (aware; DATE-OBS).
    exposure_s : float
        Exposure time (0 for a bias).
    filter : str
        Filter in the instrument's wheel (required for light and flat frames).
    ra_deg, dec_deg : float, optional
        Commanded pointing (required for light frames and twilight flats).
    flat_source : str
        ``twilight`` (the sky) or ``dome`` (the lamp screen) for flats.
    dome_open : bool
        A closed dome lets no sky light in (light frames and twilight flats).
    transparency : float
        Fraction of starlight passing clouds (1 clear, 0 overcast).
    afterglows : tuple of Afterglow
        Transients rendered where the frame covers them.
    seed : int, optional
        Overrides ``[sky] seed``.
    """

    instrument: str
    image_type: str
    start: datetime
    exposure_s: float
    filter: str = ""
    ra_deg: float | None = None
    dec_deg: float | None = None
    flat_source: str = "twilight"
    dome_open: bool = True
    transparency: float = 1.0
    afterglows: tuple[Afterglow, ...] = ()
    object_name: str = ""
    request_id: int | None = None
    sequence_id: int | None = None
    plan_id: int | None = None
    image_id: str | None = None
    frame_index: int | None = None
    alert_ivorn: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.image_type not in IMAGE_TYPES:
            raise FrameRequestError(
                f"image_type: {self.image_type!r} is not one of {', '.join(IMAGE_TYPES)}"
            )
        if self.start.tzinfo is None:
            raise FrameRequestError("start: must be timezone-aware")
        if not (math.isfinite(self.exposure_s) and self.exposure_s >= 0):
            raise FrameRequestError(f"exposure_s: must be >= 0 (got {self.exposure_s})")
        if self.image_type == ImageType.BIAS and self.exposure_s != 0:
            raise FrameRequestError(f"exposure_s: a bias has no exposure (got {self.exposure_s})")
        if self.image_type in (ImageType.LIGHT, ImageType.FLAT) and not self.filter:
            raise FrameRequestError(f"filter: required for a {self.image_type} frame")
        if self.flat_source not in FLAT_SOURCES:
            raise FrameRequestError(
                f"flat_source: {self.flat_source!r} is not one of {', '.join(FLAT_SOURCES)}"
            )
        if (self.ra_deg is None) != (self.dec_deg is None):
            raise FrameRequestError("ra_deg/dec_deg: give both or neither")
        if self.ra_deg is not None and self.dec_deg is not None:
            if not math.isfinite(self.ra_deg):
                raise FrameRequestError(f"ra_deg: not a number ({self.ra_deg})")
            if not -90.0 <= float(self.dec_deg) <= 90.0:
                raise FrameRequestError(f"dec_deg: must be within ±90 (got {self.dec_deg})")
        if self.needs_pointing and self.ra_deg is None:
            what = "light frame" if self.image_type == ImageType.LIGHT else "twilight flat"
            raise FrameRequestError(f"ra_deg/dec_deg: a {what} needs the commanded pointing")
        if not 0.0 <= self.transparency <= 1.0:
            raise FrameRequestError(f"transparency: must be within 0..1 (got {self.transparency})")

    @property
    def needs_pointing(self) -> bool:
        """Light frames and twilight flats see the sky."""
        return self.image_type == ImageType.LIGHT or (
            self.image_type == ImageType.FLAT and self.flat_source == "twilight"
        )

    @property
    def pointing(self) -> tuple[float, float] | None:
        """The commanded pointing (RA, Dec) in degrees, None when the frame has none."""
        if self.ra_deg is None or self.dec_deg is None:
            return None
        return float(self.ra_deg), float(self.dec_deg)

    @property
    def start_utc(self) -> datetime:
        """``start`` in UTC."""
        return self.start.astimezone(UTC)

    def identity(self, global_seed: int) -> tuple[object, ...]:
        """What determines the frame's random draws (ids and names do not)."""
        return (
            self.seed if self.seed is not None else global_seed,
            self.instrument,
            self.image_type,
            self.filter,
            round(self.exposure_s, 6),
            self.start_utc.isoformat(),
            None if self.ra_deg is None else round(self.ra_deg, 9),
            None if self.dec_deg is None else round(float(self.dec_deg), 9),
            self.flat_source,
            self.dome_open,
            round(self.transparency, 6),
        )


@dataclass
class RenderedFrame:
    """A rendered frame: pixels, FITS header, and the truth of everything in it.

    ``truth`` is an astropy Table, one row per rendered source (stars, afterglows, cosmic rays);
    ``truth.meta`` holds the true WCS, the conditions and the exact calibration parameters.
    """

    request: FrameRequest
    data: npt.NDArray[np.uint16] | npt.NDArray[np.int32]
    header: Any  # astropy.io.fits.Header
    truth: Any  # astropy.table.Table
    timings: dict[str, float] = field(default_factory=dict)
