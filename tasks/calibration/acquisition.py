"""Taking calibration frames: the plan, and the hook where the camera controllers plug in.

The ``calibrate`` deployment ("take and build masters now") asks for frames through an
*acquisition callable*: ``acquire(AcquisitionRequest) -> list of FITS paths``, which takes
``count`` frames of one kind with the camera (and, for dome flats, the calibration lamp: the
PLC's switch, or the light panel of ``[devices.lamp]``; for twilight flats, a dither of
``dither_arcsec`` between frames so that stars fall on different pixels).
:func:`tasks.calibration.camera_acquisition.default_acquisition` takes them with the cameras
through the gateways; the masters are built from the paths it returns, exactly as from frames
already on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import SiteConfig

KINDS_IN_ORDER = ("bias", "dark", "flat")


@dataclass(frozen=True)
class AcquisitionRequest:
    """``count`` frames of ``kind`` with ``camera``.

    ``flat_source`` is ``twilight`` (the sky, dithered by ``dither_arcsec`` between frames) or
    ``dome`` (the calibration lamp on, the dome closed: the PLC's switch, or the light panel
    of ``[devices.lamp]`` when configured).
    """

    camera: str
    kind: str
    count: int
    exposure_s: float = 0.0
    filter: str = ""
    flat_source: str = ""
    dither_arcsec: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The request as plain data (a Prefect task parameter)."""
        return dict(vars(self))


#: The hook: takes the frames of a request, returns their paths (written atomically, recorded).
Acquire = Callable[[AcquisitionRequest], Sequence[Path]]


def flat_source_for(sun_altitude_deg: float, config: SiteConfig) -> str:
    """``twilight`` inside the twilight-flat window (``[night] flat_sun_altitude_*``), else dome."""
    night = config.night
    low, high = night.flat_sun_altitude_low_deg, night.flat_sun_altitude_high_deg
    return "twilight" if low <= sun_altitude_deg <= high else "dome"


def plan_acquisitions(
    config: SiteConfig,
    camera: str,
    kinds: Iterable[str],
    filters: Iterable[str],
    sun_altitude_deg: float,
) -> list[AcquisitionRequest]:
    """What to take now: bias, then dark, then one flat set per filter (twilight or dome).

    Raises
    ------
    ValueError
        Unknown camera, master type, or a filter not in the camera's wheel.
    """
    instrument = config.instrument(camera)
    if instrument is None:
        raise ValueError(f"camera {camera!r} is not an instrument")
    wanted = list(dict.fromkeys(kinds))
    unknown = [k for k in wanted if k not in KINDS_IN_ORDER]
    if unknown:
        raise ValueError(f"unknown master types {unknown} (bias, dark, flat)")
    filters = list(dict.fromkeys(filters))
    wrong = [f for f in filters if f not in instrument.filters]
    if wrong:
        raise ValueError(f"filters {wrong} are not in the wheel of {camera!r}")
    section = config.calibration
    plan: list[AcquisitionRequest] = []
    if "bias" in wanted:
        plan.append(AcquisitionRequest(camera, "bias", section.bias_count))
    if "dark" in wanted:
        plan.append(AcquisitionRequest(camera, "dark", section.dark_count, section.dark_exposure_s))
    if "flat" in wanted:
        source = flat_source_for(sun_altitude_deg, config)
        exposure = (
            section.twilight_flat_exposure_s
            if source == "twilight"
            else section.dome_flat_exposure_s
        )
        dither = section.twilight_dither_arcsec if source == "twilight" else 0.0
        for filter_name in filters:
            plan.append(
                AcquisitionRequest(
                    camera, "flat", section.flat_count, exposure, filter_name, source, dither
                )
            )
    return plan


#: Shortest flat exposure (a mechanical shutter's travel shows on shorter ones) and longest.
FLAT_EXPOSURE_MIN_S = 1.0
FLAT_EXPOSURE_MAX_S = 120.0


def next_flat_exposure(
    exposure_s: float, level_adu: float, top_adu: float, config: SiteConfig
) -> float:
    """The exposure of the next flat, from the last one's level (ADU above bias) so that the
    next lands mid-way in the usable range (``[calibration] flat_level_*_fraction`` of
    ``top_adu``, the saturation above bias): the twilight sky fades by minutes, a lamp or a
    camera's pixel scale are not known in advance. Clamped to
    [:data:`FLAT_EXPOSURE_MIN_S`, :data:`FLAT_EXPOSURE_MAX_S`]. A saturated frame says only that
    the rate is higher than its level shows (next: 4 times shorter); an empty one, that it is
    lower (4 times longer)."""
    section = config.calibration
    target = 0.5 * (section.flat_level_min_fraction + section.flat_level_max_fraction) * top_adu
    if level_adu >= 0.95 * top_adu:
        ratio = 0.25
    elif level_adu <= 0:
        ratio = 4.0
    else:
        ratio = target / level_adu
    return min(max(exposure_s * ratio, FLAT_EXPOSURE_MIN_S), FLAT_EXPOSURE_MAX_S)


def adapted_flat_exposure(
    exposure_s: float,
    measured: tuple[float, float | None] | None,
    instrument: Any,
    config: SiteConfig,
) -> float:
    """The next flat's exposure from the last flat's ``(central level, SATURATE card)`` (ADU;
    None: unreadable, kept). A frame whose ``SATURATE`` is not the instrument's (a ramp-fitted
    infrared frame: its saturation grows with the exposure, so its level against it does not
    change) keeps the exposure too."""
    if measured is None:
        return exposure_s
    level, saturate = measured
    if saturate is not None and abs(saturate - instrument.saturation_adu) > 0.5:
        return exposure_s
    top = instrument.saturation_adu - instrument.bias_adu
    return next_flat_exposure(exposure_s, level - instrument.bias_adu, top, config)
