"""A calibrated science frame and what the analysis needs from its header.

:func:`load_frame` calibrates a raw frame with the consumer's calibrator (the calibration
module's :class:`~tasks.calibration.calibrator.ScienceCalibrator`, masters cached in memory) and
checks what analysis needs: a light frame, a known and transparent filter, an exposure time, an
initial WCS, usable pixels. Anything missing raises :class:`NrtError` naming the problem: the
consumer records it as the reason of a failed analysis and goes on with the next frame.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from devices.controllers.camera import ImageType
from infra.config import InstrumentSection, SiteConfig
from tasks.calibration.frames import ascii_fold
from tasks.calibration.science import CalibratedFrame, CalibrationError

#: WCS keywords an initial (mount) WCS must have.
WCS_KEYS = ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2")


class NrtError(ValueError):
    """A frame cannot be analysed; the message says why (it becomes the analysis's reason)."""


Image = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]


class Calibrator(Protocol):
    """What calibrates a raw frame in memory (``ScienceCalibrator`` is one)."""

    def calibrate(
        self,
        raw_path: Path | str,
        output: Path | bool | None = True,
        *,
        require: Sequence[str] = (),
    ) -> CalibratedFrame:  # pragma: no cover - protocol
        """The calibrated frame: ``ccd`` (CCDData), ``used``, ``missing`` and ``seconds``."""
        ...


@dataclass
class ScienceFrame:
    """A calibrated frame ready for analysis (pixels in ADU, float32)."""

    path: Path
    data: Image
    mask: Mask | None
    header: fits.Header
    wcs: WCS  # the initial (header) WCS
    instrument: str
    filter: str
    exposure_s: float
    date_obs: datetime
    gain: float
    read_noise_e: float
    pixel_scale_arcsec: float
    alert_ivorn: str | None = None
    calibration: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        height, width = self.data.shape
        return height, width

    @property
    def mid_time(self) -> datetime:
        """Mid-exposure instant."""
        return self.date_obs + timedelta(seconds=self.exposure_s / 2.0)


@dataclass(frozen=True)
class FramePixels:
    """The pixels measurements are made on and their noise: what every aperture sum, PSF and
    scene fit of one frame reads.

    ``data`` is the calibrated frame with its background subtracted (ADU, float32), ``mask`` its
    bad and saturated pixels (None: all good), ``rms_adu`` the background noise per pixel,
    ``gain`` in e⁻/ADU (photon noise of the sources).
    """

    data: Image
    mask: Mask | None
    rms_adu: float
    gain: float


def load_frame(path: Path | str, calibrator: Calibrator, config: SiteConfig) -> ScienceFrame:
    """Calibrate ``path`` in memory and check it can be analysed.

    Raises
    ------
    NrtError
        Calibration failed (truncated, unreadable, keyword missing...), not a light frame, filter
        missing, unknown or opaque, no exposure, no initial WCS, no usable pixels.
    """
    path = Path(path)
    started = time.perf_counter()
    try:
        calibrated = calibrator.calibrate(path, output=False)
    except CalibrationError as exc:
        raise NrtError(f"calibration: {exc}") from None
    ccd = calibrated.ccd
    header = ccd.header
    image_type = str(header.get("IMAGETYP", "")).strip().lower()
    if image_type != ImageType.LIGHT:
        raise NrtError(f"{path.name}: IMAGETYP is {image_type!r}, not a light frame")
    instrument_name = str(header.get("INSTRUME", "")).strip()
    instrument = _instrument(config, instrument_name)
    filter_name = str(header.get("FILTER", "")).strip()
    if not filter_name:
        raise NrtError(f"{path.name}: FILTER is missing")
    if filter_name not in instrument.filters:
        raise NrtError(
            f"{path.name}: unknown filter {filter_name!r} for {instrument.name!r} "
            f"(wheel: {', '.join(instrument.filters)})"
        )
    sky_filter = config.sky.filters.get(filter_name)
    if sky_filter is not None and sky_filter.opaque:
        raise NrtError(
            f"{path.name}: filter {filter_name!r} is opaque (a blank): no sky to analyse"
        )
    exposure = float(header.get("EXPTIME", 0.0) or 0.0)
    if not exposure > 0:
        raise NrtError(f"{path.name}: EXPTIME is {exposure}: a light frame needs an exposure")
    notes: list[str] = []
    gain = _positive(header, "GAIN", instrument.gain_e_per_adu, notes)
    read_noise = _positive(header, "RDNOISE", instrument.read_noise_e, notes)
    wcs = initial_wcs(header, path)
    date_obs = _date_obs(header, path)
    data = np.asarray(ccd.data, dtype=np.float32)
    mask = None if ccd.mask is None else np.asarray(ccd.mask, dtype=bool)
    _check_pixels(data, mask, path, _sky_ceiling(header, instrument))
    ivorn = str(header.get("IVORN", "")).strip() or None
    seconds = dict(calibrated.seconds)
    seconds["load"] = time.perf_counter() - started
    return ScienceFrame(
        path=path,
        data=data,
        mask=mask,
        header=header,
        wcs=wcs,
        instrument=instrument.name,
        filter=filter_name,
        exposure_s=exposure,
        date_obs=date_obs,
        gain=gain,
        read_noise_e=read_noise,
        pixel_scale_arcsec=instrument.pixel_scale_arcsec,
        alert_ivorn=ivorn,
        calibration={"used": calibrated.used, "missing": calibrated.missing},
        seconds=seconds,
        notes=notes,
    )


def _instrument(config: SiteConfig, name: str) -> InstrumentSection:
    for instrument in config.instruments:
        if ascii_fold(instrument.name) == ascii_fold(name):
            return instrument
    raise NrtError(f"INSTRUME {name!r} is not a configured camera")


def _positive(header: fits.Header, key: str, default: float, notes: list[str]) -> float:
    value = header.get(key)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if math.isfinite(number) and number > 0:
        return number
    notes.append(f"{key} missing or invalid ({value!r}): the camera's configured {default} used")
    return float(default)


def initial_wcs(header: fits.Header, path: Path | str = "frame") -> WCS:
    """The header's (mount) WCS, celestial and 2-D; NrtError when it is missing or broken."""
    missing = [k for k in WCS_KEYS if k not in header]
    if missing:
        raise NrtError(f"{Path(path).name}: no initial WCS ({', '.join(missing)} missing)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header, naxis=2, relax=True)
    except Exception as exc:
        raise NrtError(f"{Path(path).name}: initial WCS unusable ({exc})") from None
    if not wcs.has_celestial:
        raise NrtError(f"{Path(path).name}: initial WCS is not celestial ({wcs.wcs.ctype})")
    return wcs


def _date_obs(header: fits.Header, path: Path) -> datetime:
    value = str(header.get("DATE-OBS", ""))
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise NrtError(f"{path.name}: DATE-OBS {value!r} is not an ISO date") from None
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def _sky_ceiling(header: fits.Header, instrument: InstrumentSection) -> float:
    """The frame's saturation level above the bias (ADU): the header's SATURATE, else the
    camera's."""
    try:
        saturate = float(header.get("SATURATE", instrument.saturation_adu))
    except (TypeError, ValueError):
        saturate = instrument.saturation_adu
    return saturate - instrument.bias_adu


def _check_pixels(data: Image, mask: Mask | None, path: Path, ceiling_adu: float) -> None:
    sample = data[::8, ::8]
    finite = np.isfinite(sample)
    if finite.mean() < 0.5:
        raise NrtError(f"{path.name}: {100 * (1 - finite.mean()):.0f}% of the pixels are NaN")
    if mask is not None:
        masked = float(mask[::8, ::8].mean())
        if masked > 0.5:
            level = float(np.nanmedian(sample)) if finite.any() else math.nan
            why = "nothing to measure"
            if math.isfinite(level) and level >= 0.8 * ceiling_adu:
                why = (
                    f"the sky alone fills the pixels (median {level:.0f} ADU of "
                    f"{ceiling_adu:.0f} above the bias): the exposure is too long for this "
                    "filter's sky"
                )
            raise NrtError(
                f"{path.name}: {100 * masked:.0f}% of the pixels are saturated or bad: {why}"
            )
    values = sample[finite]
    if float(np.ptp(values)) == 0.0:
        raise NrtError(f"{path.name}: every pixel has the same value ({values[0]:g})")
