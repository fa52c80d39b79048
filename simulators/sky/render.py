"""Render one frame from its request: the entry point of the camera simulator.

:func:`render_frame` turns a :class:`~simulators.sky.request.FrameRequest` into pixels, a header
and the truth; :func:`~simulators.sky.output.write_frame` writes them. Deterministic: the same
request (pointing, time, instrument, filter, exposure, image type, seed) gives the same pixels.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta

import numpy as np

from infra.config import InstrumentSection, SiteConfig, get_config
from infra.config_sky import SkyFilter
from simulators.sky import conditions as cond
from simulators.sky.catalog import StarModel, stars_in_cone
from simulators.sky.detector import detector_model
from simulators.sky.header import RENDERER_VERSION, build_header
from simulators.sky.noise import bleed, cosmic_rays, digitise, expose
from simulators.sky.optics import (
    header_wcs,
    pixel_to_world,
    true_pointing,
    true_wcs,
    world_to_pixel,
)
from simulators.sky.psf import moffat_alpha, peak_fraction, stamp_moffat
from simulators.sky.request import FrameRequest, FrameRequestError, RenderedFrame
from simulators.sky.seeds import generator
from simulators.sky.truth import SourceRows, truth_table

#: Sources whose centre lies this many pixels outside the frame still spill light into it.
_EDGE_MARGIN_PX = 30
#: The full well sits a little above the ADC range: saturated pixels read exactly SATURATE, and
#: charge bleeds once a pixel holds 5 % more than the ADC can count.
FULL_WELL_OVER_ADC = 1.05


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
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    config = config or get_config()
    instrument = _instrument(config, request)
    sky = config.sky
    seed = sky.seed if request.seed is None else int(request.seed)
    stream = ("frame", *request.identity(sky.seed))
    filt = sky.filters.get(request.filter) if request.filter else None
    shape = (instrument.height, instrument.width)
    gain = instrument.gain_e_per_adu
    saturation_e = (instrument.saturation_adu - instrument.bias_adu) * gain
    detector = detector_model(sky, instrument, seed)
    meta: dict = {
        "renderer": {"version": RENDERER_VERSION, "seed": seed, "stream": [str(s) for s in stream]},
        "frame": {
            "instrument": instrument.name,
            "image_type": request.image_type,
            "filter": request.filter,
            "exposure_s": request.exposure_s,
            "date_obs": request.start_utc.isoformat(),
            "flat_source": request.flat_source if request.image_type == "flat" else None,
            "width": instrument.width,
            "height": instrument.height,
            "pixel_scale_arcsec": instrument.pixel_scale_arcsec,
        },
    }
    rows = SourceRows()
    light = None
    wcs_head = wcs_true = None
    airmass = None
    frame_rng = generator(*stream, "frame")
    if request.needs_pointing:
        mid = request.start_utc + timedelta(seconds=request.exposure_s / 2.0)
        geo = cond.geometry(config, mid, float(request.ra_deg), float(request.dec_deg))
        airmass = geo.airmass
        pointing = true_pointing(
            sky, float(request.ra_deg), float(request.dec_deg), seed, frame_rng
        )
        wcs_head = header_wcs(instrument, pointing)
        wcs_true = true_wcs(sky, instrument, pointing, seed)
        meta["pointing"] = {k: float(v) for k, v in vars(pointing).items()}
        meta["true_wcs"] = _cards(wcs_true)
        meta["header_wcs"] = _cards(wcs_head)
        timings["geometry"] = time.perf_counter() - clock
        if request.dome_open and filt is not None and not filt.opaque:
            light, conditions = _sky_light(request, instrument, config, filt, geo, seed, frame_rng)
            meta["conditions"] = conditions
            if request.image_type == "light" or sky.twilight_flat_stars:
                _stars(request, instrument, config, filt, geo, wcs_true, conditions, light, rows)
                timings["sources"] = time.perf_counter() - clock
    elif request.image_type == "flat" and filt is not None and not filt.opaque:
        lamp_rng = generator(seed, "dome-lamp", instrument.name)  # fixed: the screen does not move
        light, meta["conditions"] = _lamp_light(request, instrument, config, filt, lamp_rng)
    exposure = request.exposure_s
    flat = detector.flat(request.filter) if light is not None else None
    if len(rows):
        rows.finish_saturation(light, flat, saturation_e, instrument.dark_current_e_s * exposure)
    frame_e = expose(
        light,
        flat,
        instrument.dark_current_e_s * exposure,
        detector.hot_index,
        detector.hot_dark_e_s * exposure,
        shape,
        instrument.read_noise_e,
        stream,
    )
    timings["noise"] = time.perf_counter() - clock
    for ray in cosmic_rays(frame_e, exposure, sky.cosmic_ray_rate_per_mpix_s, stream):
        rows.add_cosmic_ray(ray, wcs_true)
    meta["bleeding_columns"] = bleed(frame_e, saturation_e * FULL_WELL_OVER_ADC)
    data = digitise(frame_e, detector.bias_map_adu, gain, instrument.saturation_adu)
    timings["digitise"] = time.perf_counter() - clock
    meta["detector"] = detector.truth(request.filter if light is not None else None)
    meta["detector"].update(
        gain_e_per_adu=gain,
        read_noise_e=instrument.read_noise_e,
        saturation_adu=instrument.saturation_adu,
        digital_saturation_e=saturation_e,
        full_well_e=saturation_e * FULL_WELL_OVER_ADC,
        flat_applied=light is not None,
    )
    header = build_header(request, instrument, config, wcs_head, airmass)
    truth = truth_table(rows, meta)
    timings["total"] = time.perf_counter() - clock
    return RenderedFrame(request, data, header, truth, timings)


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


def _cards(wcs) -> dict:
    return {k: v for k, v in wcs.to_header(relax=True).items() if k not in ("DATE-OBS", "MJD-OBS")}


def _gradient(shape, amplitude: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
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


def _sky_light(request, instrument, config, filt: SkyFilter, geo, seed, rng):
    """Expected sky electrons per pixel (before the flat field), and the conditions."""
    sky = config.sky
    mags = cond.sky_mag_arcsec2(sky, filt, geo)
    pixel_area = instrument.pixel_scale_arcsec**2
    rate = float(cond.electrons_per_s(mags["total"], filt)) * pixel_area
    level = rate * request.exposure_s
    plane, gradient = _gradient((instrument.height, instrument.width), sky.sky_gradient, rng)
    plane *= np.float32(level)
    fwhm = cond.seeing_fwhm_arcsec(sky, request.start_utc, geo.airmass, seed)
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


def _lamp_light(request, instrument, config, filt: SkyFilter, rng):
    """Expected dome-flat electrons per pixel: the lamp screen with its illumination gradient."""
    sky = config.sky
    rate = float(cond.electrons_per_s(sky.dome_lamp_mag_arcsec2, filt)) * (
        instrument.pixel_scale_arcsec**2
    )
    level = rate * request.exposure_s
    plane, gradient = _gradient((instrument.height, instrument.width), sky.dome_flat_gradient, rng)
    plane *= np.float32(level)
    return plane, {"lamp_e_per_pixel": level, "lamp_gradient": gradient}


def _stars(request, instrument, config, filt, geo, wcs, conditions, light, rows) -> None:
    """Stamp the catalog stars and the afterglows covering the frame into ``light``."""
    sky = config.sky
    seed = sky.seed if request.seed is None else int(request.seed)
    width, height = instrument.width, instrument.height
    scale = instrument.pixel_scale_arcsec
    radius = (math.hypot(width, height) / 2.0 + _EDGE_MARGIN_PX) * scale / 3600.0 * 1.02
    centre_ra, centre_dec = pixel_to_world(
        wcs, np.array([(width - 1) / 2]), np.array([(height - 1) / 2])
    )
    stars = stars_in_cone(
        StarModel.from_config(sky, seed), float(centre_ra[0]), float(centre_dec[0]), radius
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
    x, y = world_to_pixel(wcs, ra, dec)
    near = (x > -_EDGE_MARGIN_PX) & (x < width - 1 + _EDGE_MARGIN_PX)
    near &= (y > -_EDGE_MARGIN_PX) & (y < height - 1 + _EDGE_MARGIN_PX)
    ids, kind, ra, dec, mag, x, y = (a[near] for a in (ids, kind, ra, dec, mag, x, y))
    observed = mag + filt.extinction_mag_per_airmass * geo.airmass
    flux = cond.electrons_per_s(observed, filt) * request.exposure_s * request.transparency
    rho2 = ((x - (width - 1) / 2.0) ** 2 + (y - (height - 1) / 2.0) ** 2) / (
        ((width - 1) / 2.0) ** 2 + ((height - 1) / 2.0) ** 2
    )
    fwhm = conditions["seeing_fwhm_px"] * (1.0 + sky.seeing_field_variation * rho2)
    landed = stamp_moffat(light, x, y, flux, fwhm, sky.moffat_beta)
    peak = flux * peak_fraction(moffat_alpha(fwhm, sky.moffat_beta), sky.moffat_beta)
    rows.add_sources(ids, kind, ra, dec, x, y, mag, flux, landed, fwhm, peak, width, height)
