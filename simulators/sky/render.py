"""Render one frame from its request: the entry point of the camera simulator.

:func:`render_frame` turns a :class:`~simulators.sky.request.FrameRequest` into pixels, a header
and the truth; :func:`~simulators.sky.output.write_frame` writes them. Deterministic: the same
request (pointing, time, instrument, filter, exposure, image type, seed) gives the same pixels.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from devices.controllers.camera import ImageType
from infra.astro import moffat_alpha
from infra.config import InstrumentSection, SiteConfig, get_config
from infra.config_sky import SkyFilter, SkySection
from simulators.sky import conditions as cond
from simulators.sky.catalog import StarModel, stars_in_cone
from simulators.sky.detector import detector_model
from simulators.sky.header import RENDERER_VERSION, build_header
from simulators.sky.noise import bleed, cosmic_rays, digitise, expose, ramp_fit
from simulators.sky.optics import (
    header_wcs,
    pixel_to_world,
    true_pointing,
    true_wcs,
    world_to_pixel,
)
from simulators.sky.psf import peak_fraction, stamp_moffat
from simulators.sky.request import FrameRequest, FrameRequestError, RenderedFrame
from simulators.sky.seeds import generator
from simulators.sky.truth import RenderedSources, SourceRows, truth_table

#: Sources whose centre lies this many pixels outside the frame still spill light into it.
_EDGE_MARGIN_PX = 30
#: The full well sits a little above the ADC range: saturated pixels read exactly SATURATE, and
#: charge bleeds once a pixel holds 5 % more than the ADC can count.
FULL_WELL_OVER_ADC = 1.05

Image = npt.NDArray[np.float32]
Floats = npt.NDArray[np.float64]
#: What the truth's ``meta`` gathers while the frame is rendered (plain values and dicts).
Meta = dict[str, Any]


@dataclass(frozen=True)
class _Frame:
    """What every step of one rendering reads: the request, its camera and its settings."""

    request: FrameRequest
    instrument: InstrumentSection
    config: SiteConfig
    seed: int
    stream: tuple[object, ...]  # the name of the frame's random streams
    filt: SkyFilter | None

    @property
    def sky(self) -> SkySection:
        return self.config.sky

    @property
    def shape(self) -> tuple[int, int]:
        return (self.instrument.height, self.instrument.width)

    @property
    def saturation_e(self) -> float:
        """Electrons at digital saturation (above the bias) in one read."""
        instrument = self.instrument
        return (instrument.saturation_adu - instrument.bias_adu) * instrument.gain_e_per_adu

    @property
    def reads(self) -> float:
        """Read intervals in the exposure (1: a single read at the end, as a CCD)."""
        ramp = self.instrument.ramp_read_s
        exposure = self.request.exposure_s
        return exposure / ramp if ramp and exposure > ramp else 1.0

    @property
    def ceiling_e(self) -> float:
        """The largest signal the frame can hold (electrons above the bias): a ramp's slope
        reaches the saturation of one read over the exposure."""
        return self.saturation_e * self.reads

    @property
    def saturate_adu(self) -> float:
        """The frame's saturation level (ADU, the header's SATURATE)."""
        instrument = self.instrument
        return instrument.bias_adu + self.ceiling_e / instrument.gain_e_per_adu


@dataclass
class _Light:
    """Expected electrons from light (None: the shutter saw none) and where the sky landed."""

    electrons: Image | None = None
    wcs_header: Any = None  # astropy WCS: the mount's belief, written in the header
    wcs_true: Any = None  # astropy WCS: where every source was drawn
    airmass: float | None = None


@dataclass
class _Timer:
    """Seconds from the start of the rendering to the end of each step."""

    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)

    def mark(self, step: str) -> None:
        self.timings[step] = time.perf_counter() - self.started


def render_frame(request: FrameRequest, config: SiteConfig | None = None) -> RenderedFrame:
    """Render the frame described by ``request``.

    Parameters
    ----------
    request : FrameRequest
        What to render.
    config : SiteConfig, optional
        Site configuration (default: the process configuration).

    Returns
    -------
    RenderedFrame
        Pixels (uint16), header, truth table (``truth.meta``: true WCS, conditions, calibration).

    Raises
    ------
    FrameRequestError
        Unknown instrument, or a filter not in its wheel.
    """
    timer = _Timer()
    config = config or get_config()
    frame = _frame(request, config)
    meta = _frame_meta(frame)
    rows = SourceRows()
    light = _light(frame, meta, rows, timer)
    data = _read_out(frame, light, rows, meta, timer)
    header = build_header(request, frame.instrument, config, light.wcs_header, light.airmass)
    header["SATURATE"] = (frame.saturate_adu, header.comments["SATURATE"])
    truth = truth_table(rows, meta)
    timer.mark("total")
    return RenderedFrame(request, data, header, truth, timer.timings)


def _frame(request: FrameRequest, config: SiteConfig) -> _Frame:
    instrument = _instrument(config, request)
    sky = config.sky
    return _Frame(
        request=request,
        instrument=instrument,
        config=config,
        seed=sky.seed if request.seed is None else int(request.seed),
        stream=("frame", *request.identity(sky.seed)),
        filt=sky.filters.get(request.filter) if request.filter else None,
    )


def _instrument(config: SiteConfig, request: FrameRequest) -> InstrumentSection:
    instrument = config.instrument(request.instrument)
    if instrument is None:
        known = ", ".join(i.name for i in config.instruments)
        raise FrameRequestError(f"instrument: {request.instrument!r} is not one of {known}")
    if request.filter and request.filter not in instrument.filters:
        raise FrameRequestError(
            f"filter: {request.filter!r} is not in the wheel of {instrument.name!r} "
            f"({', '.join(instrument.filters)})"
        )
    return instrument


def _frame_meta(frame: _Frame) -> Meta:
    """The truth's ``meta`` as the request gives it (the renderer, the frame's settings)."""
    request, instrument = frame.request, frame.instrument
    return {
        "renderer": {
            "version": RENDERER_VERSION,
            "seed": frame.seed,
            "stream": [str(s) for s in frame.stream],
        },
        "frame": {
            "instrument": instrument.name,
            "image_type": request.image_type,
            "filter": request.filter,
            "exposure_s": request.exposure_s,
            "date_obs": request.start_utc.isoformat(),
            "flat_source": request.flat_source if request.image_type == ImageType.FLAT else None,
            "width": instrument.width,
            "height": instrument.height,
            "pixel_scale_arcsec": instrument.pixel_scale_arcsec,
        },
    }


def _light(frame: _Frame, meta: Meta, rows: SourceRows, timer: _Timer) -> _Light:
    """The light reaching the detector: the sky and its sources, the dome lamp, or none."""
    request, filt = frame.request, frame.filt
    frame_rng = generator(*frame.stream, "frame")
    if request.needs_pointing and request.pointing is not None:  # the first implies the second
        return _sky_frame_light(frame, request.pointing, meta, rows, timer, frame_rng)
    if request.image_type == ImageType.FLAT and filt is not None and not filt.opaque:
        # Fixed: the screen does not move.
        lamp_rng = generator(frame.seed, "dome-lamp", frame.instrument.name)
        light, meta["conditions"] = _lamp_light(frame, filt, lamp_rng)
        return _Light(light)
    return _Light()


def _sky_frame_light(
    frame: _Frame,
    pointing: tuple[float, float],
    meta: Meta,
    rows: SourceRows,
    timer: _Timer,
    frame_rng: np.random.Generator,
) -> _Light:
    """Where the telescope really points, and (dome open) the sky with its stars stamped."""
    request, instrument, sky, filt = frame.request, frame.instrument, frame.sky, frame.filt
    ra_deg, dec_deg = pointing
    mid = request.start_utc + timedelta(seconds=request.exposure_s / 2.0)
    geo = cond.geometry(frame.config, mid, ra_deg, dec_deg)
    truly = true_pointing(sky, ra_deg, dec_deg, frame.seed, frame_rng)
    result = _Light(
        wcs_header=header_wcs(instrument, truly),
        wcs_true=true_wcs(sky, instrument, truly, frame.seed),
        airmass=geo.airmass,
    )
    meta["pointing"] = {k: float(v) for k, v in vars(truly).items()}
    meta["true_wcs"] = _cards(result.wcs_true)
    meta["header_wcs"] = _cards(result.wcs_header)
    timer.mark("geometry")
    if request.dome_open and filt is not None and not filt.opaque:
        light, conditions = _sky_light(frame, filt, geo, frame_rng)
        result.electrons = light
        meta["conditions"] = conditions
        if request.image_type == ImageType.LIGHT or sky.twilight_flat_stars:
            seeing_px = conditions["seeing_fwhm_px"]
            _stars(frame, filt, geo, result.wcs_true, seeing_px, light, rows)
            timer.mark("sources")
    return result


def _read_out(
    frame: _Frame, light: _Light, rows: SourceRows, meta: Meta, timer: _Timer
) -> npt.NDArray[np.uint16] | npt.NDArray[np.int32]:
    """Photon and read noise on the flat-fielded light and the dark, cosmic rays, bleeding,
    digitisation; the detector's truth added to ``meta``."""
    request, instrument = frame.request, frame.instrument
    detector = detector_model(frame.sky, instrument, frame.seed)
    exposure = request.exposure_s
    gain = instrument.gain_e_per_adu
    saturation_e = frame.saturation_e
    dark_e = instrument.dark_current_e_s * exposure
    electrons = light.electrons
    flat = detector.flat(request.filter) if electrons is not None else None
    if electrons is not None and len(rows):
        rows.finish_saturation(electrons, flat, frame.ceiling_e, dark_e)
    frame_e = expose(
        electrons,
        flat,
        dark_e,
        detector.hot_index,
        detector.hot_dark_e_s * exposure,
        frame.shape,
        instrument.read_noise_e,
        frame.stream,
    )
    timer.mark("noise")
    for ray in cosmic_rays(frame_e, exposure, frame.sky.cosmic_ray_rate_per_mpix_s, frame.stream):
        rows.add_cosmic_ray(ray, light.wcs_true)
    if frame.reads > 1.0:
        # An infrared array's pixels do not bleed; the ramp ends where a pixel fills.
        expected = _expected_e(electrons, flat, dark_e, frame.shape)
        expected.reshape(-1)[detector.hot_index] += (detector.hot_dark_e_s * exposure).astype(
            np.float32
        )
        meta["ramp"] = ramp_fit(frame_e, expected, saturation_e, frame.reads)
        meta["bleeding_columns"] = 0
    else:
        meta["bleeding_columns"] = bleed(frame_e, saturation_e * FULL_WELL_OVER_ADC)
    data = digitise(frame_e, detector.bias_map_adu, gain, frame.saturate_adu)
    timer.mark("digitise")
    meta["detector"] = detector.truth(request.filter if electrons is not None else None)
    meta["detector"].update(
        gain_e_per_adu=gain,
        read_noise_e=instrument.read_noise_e,
        saturation_adu=frame.saturate_adu,
        digital_saturation_e=frame.ceiling_e,
        full_well_e=saturation_e * FULL_WELL_OVER_ADC,
        ramp_read_s=instrument.ramp_read_s,
        flat_applied=electrons is not None,
    )
    return data


def _expected_e(
    electrons: Image | None, flat: Image | None, dark_e: float, shape: tuple[int, int]
) -> Image:
    """Expected electrons per pixel (light through the flat field, plus the dark)."""
    if electrons is None:
        return np.full(shape, np.float32(dark_e), dtype=np.float32)
    expected = electrons * flat if flat is not None else electrons.copy()
    expected += np.float32(dark_e)
    return expected


def _cards(wcs: Any) -> dict[str, Any]:
    return {k: v for k, v in wcs.to_header(relax=True).items() if k not in ("DATE-OBS", "MJD-OBS")}


def _gradient(
    shape: tuple[int, int], amplitude: float, rng: np.random.Generator
) -> tuple[Image, dict[str, Any]]:
    """``1 + gx (x - xc)/w + gy (y - yc)/h`` with ``hypot(gx, gy) = amplitude``, random angle."""
    height, width = shape
    angle = float(rng.uniform(0, 2 * math.pi))
    gx, gy = amplitude * math.cos(angle), amplitude * math.sin(angle)
    xs = (gx * (np.arange(width, dtype=np.float32) - (width - 1) / 2.0) / width).astype(np.float32)
    ys = (gy * (np.arange(height, dtype=np.float32) - (height - 1) / 2.0) / height).astype(
        np.float32
    )
    plane = np.add.outer(ys + np.float32(1.0), xs)
    return plane, {"gx": gx, "gy": gy, "model": "1 + gx (x - xc)/width + gy (y - yc)/height"}


def _sky_light(
    frame: _Frame, filt: SkyFilter, geo: cond.Geometry, rng: np.random.Generator
) -> tuple[Image, dict[str, Any]]:
    """Expected sky electrons per pixel (before the flat field), and the conditions."""
    request, instrument, sky = frame.request, frame.instrument, frame.sky
    mags = cond.sky_mag_arcsec2(sky, filt, geo)
    pixel_area = instrument.pixel_scale_arcsec**2
    rate = float(cond.electrons_per_s(mags["total"], filt)) * pixel_area
    level = rate * request.exposure_s
    plane, gradient = _gradient(frame.shape, sky.sky_gradient, rng)
    plane *= np.float32(level)
    fwhm = cond.seeing_fwhm_arcsec(sky, request.start_utc, geo.airmass, frame.seed)
    zero_point = (
        filt.zero_point_mag
        - filt.extinction_mag_per_airmass * geo.airmass
        + 2.5 * math.log10(max(request.transparency, 1e-12))
    )
    conditions = {
        "airmass": geo.airmass,
        "target_altitude_deg": geo.target_alt,
        "sun_altitude_deg": geo.sun_alt,
        "moon_altitude_deg": geo.moon_alt,
        "moon_separation_deg": geo.moon_separation,
        "moon_phase_angle_deg": geo.moon_phase_angle,
        "sky_mag_arcsec2": mags,
        "sky_e_per_pixel": level,
        "sky_gradient": gradient,
        "transparency": request.transparency,
        "zero_point_mag": zero_point,
        "zero_point_note": "mag giving 1 e-/s at this airmass and transparency, before the flat",
        "seeing_fwhm_arcsec": fwhm,
        "seeing_fwhm_px": fwhm / instrument.pixel_scale_arcsec,
        "seeing_field_variation": sky.seeing_field_variation,
        "moffat_beta": sky.moffat_beta,
    }
    return plane, conditions


def _lamp_light(
    frame: _Frame, filt: SkyFilter, rng: np.random.Generator
) -> tuple[Image, dict[str, Any]]:
    """Expected dome-flat electrons per pixel: the lamp screen with its illumination gradient."""
    sky = frame.sky
    rate = float(cond.electrons_per_s(sky.dome_lamp_mag_arcsec2, filt)) * (
        frame.instrument.pixel_scale_arcsec**2
    )
    level = rate * frame.request.exposure_s
    plane, gradient = _gradient(frame.shape, sky.dome_flat_gradient, rng)
    plane *= np.float32(level)
    return plane, {"lamp_e_per_pixel": level, "lamp_gradient": gradient}


def _stars(
    frame: _Frame,
    filt: SkyFilter,
    geo: cond.Geometry,
    wcs: Any,
    seeing_fwhm_px: float,
    light: Image,
    rows: SourceRows,
) -> None:
    """Stamp the catalog stars and the afterglows covering the frame into ``light``."""
    request, sky = frame.request, frame.sky
    width, height = frame.instrument.width, frame.instrument.height
    ids, kind, ra, dec, mag = _sources_around(frame, filt, wcs)
    x, y = world_to_pixel(wcs, ra, dec)
    near = (x > -_EDGE_MARGIN_PX) & (x < width - 1 + _EDGE_MARGIN_PX)
    near &= (y > -_EDGE_MARGIN_PX) & (y < height - 1 + _EDGE_MARGIN_PX)
    ids, kind = ids[near], kind[near]
    ra, dec, mag, x, y = (a[near] for a in (ra, dec, mag, x, y))
    observed = mag + filt.extinction_mag_per_airmass * geo.airmass
    flux = cond.electrons_per_s(observed, filt) * request.exposure_s * request.transparency
    rho2 = ((x - (width - 1) / 2.0) ** 2 + (y - (height - 1) / 2.0) ** 2) / (
        ((width - 1) / 2.0) ** 2 + ((height - 1) / 2.0) ** 2
    )
    fwhm = seeing_fwhm_px * (1.0 + sky.seeing_field_variation * rho2)
    landed = stamp_moffat(light, x, y, flux, fwhm, sky.moffat_beta)
    peak = flux * peak_fraction(moffat_alpha(fwhm, sky.moffat_beta), sky.moffat_beta)
    stamped = RenderedSources(ids, kind, ra, dec, x, y, mag, flux, landed, fwhm, peak)
    rows.add_sources(stamped, width, height)


def _sources_around(
    frame: _Frame, filt: SkyFilter, wcs: Any
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_], Floats, Floats, Floats]:
    """Catalog stars within the frame's circle (plus a margin) and the afterglows shining now:
    ids (or names), kinds, positions and magnitudes in ``filt``."""
    request, sky = frame.request, frame.sky
    width, height = frame.instrument.width, frame.instrument.height
    scale = frame.instrument.pixel_scale_arcsec
    radius = (math.hypot(width, height) / 2.0 + _EDGE_MARGIN_PX) * scale / 3600.0 * 1.02
    centre_ra, centre_dec = pixel_to_world(
        wcs, np.array([(width - 1) / 2]), np.array([(height - 1) / 2])
    )
    stars = stars_in_cone(
        StarModel.from_config(sky, frame.seed), float(centre_ra[0]), float(centre_dec[0]), radius
    )
    ra, dec = stars.ra, stars.dec
    mag = stars.magnitudes(filt)
    kind = np.full(len(stars), "star", dtype=object)
    ids = stars.source_id.astype(object)
    reference = sky.filters[sky.reference_filter]
    extra = []
    for glow in request.afterglows:
        factor = glow.mean_flux_factor(request.start_utc, request.exposure_s)
        if factor <= 0:
            continue
        m = glow.mag_t0 - 2.5 * math.log10(factor)
        m += glow.colour_offset(filt.wavelength_nm, reference.wavelength_nm)
        extra.append((glow.name, glow.ra_deg, glow.dec_deg, m))
    if extra:
        ids = np.concatenate([ids, np.array([e[0] for e in extra], dtype=object)])
        kind = np.concatenate([kind, np.full(len(extra), "afterglow", dtype=object)])
        ra = np.concatenate([ra, [e[1] for e in extra]])
        dec = np.concatenate([dec, [e[2] for e in extra]])
        mag = np.concatenate([mag, [e[3] for e in extra]])
    return ids, kind, ra, dec, mag
