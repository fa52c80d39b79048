"""The FITS header of a rendered frame: what the camera and the mount know, nothing of the truth.

Keywords: DATE-OBS (UTC, ms), MJD-OBS, EXPTIME, IMAGETYP (``bias``, ``dark``, ``flat``,
``light``), FLATTYPE (flats), FILTER, OBJECT, INSTRUME, TELESCOP, OBSERVAT and the site, RA/DEC
(commanded, degrees) and AIRMASS when pointed, GAIN (e-/ADU), RDNOISE (e-), SATURATE (ADU), the
ids REQID/SEQID/PLANID/IMAGEID/FRAMENUM when given, IVORN (long-string CONTINUE cards when
needed) for alert follow-ups, and the initial WCS (TAN at the commanded position).
"""

from __future__ import annotations

import unicodedata

from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

from devices.controllers.camera import ImageType
from infra.config import InstrumentSection, SiteConfig
from simulators.sky.request import FrameRequest

RENDERER_VERSION = "pyros-sky 1"


def ascii_text(text: str) -> str:
    """FITS strings are printable ASCII: accents folded (Mártir → Martir), the rest replaced."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in folded)


def build_header(
    request: FrameRequest,
    instrument: InstrumentSection,
    config: SiteConfig,
    wcs: WCS | None,
    airmass: float | None,
) -> fits.Header:
    """The header of the frame rendered for ``request``."""
    start = Time(request.start_utc)
    header = fits.Header()
    header["DATE-OBS"] = (start.isot[:23], "exposure start (UTC)")
    header["MJD-OBS"] = (round(float(start.mjd), 9), "exposure start (MJD, UTC)")
    header["EXPTIME"] = (float(request.exposure_s), "exposure time (s)")
    header["IMAGETYP"] = (request.image_type, "bias, dark, flat or light")
    if request.image_type == ImageType.FLAT:
        header["FLATTYPE"] = (request.flat_source, "twilight (sky) or dome (lamp)")
    header["FILTER"] = (ascii_text(request.filter), "filter in the beam")
    header["OBJECT"] = (ascii_text(request.object_name or request.image_type), "target name")
    header["INSTRUME"] = (ascii_text(instrument.name), "camera")
    header["TELESCOP"] = (config.site.name.upper(), "telescope")
    header["OBSERVAT"] = ascii_text(config.site.long_name or config.site.name)
    header["SITELAT"] = (config.site.latitude_deg, "site latitude (deg)")
    header["SITELONG"] = (config.site.longitude_deg, "site longitude (deg, east +)")
    header["SITEELEV"] = (config.site.elevation_m, "site elevation (m)")
    if request.pointing is not None:
        ra_deg, dec_deg = request.pointing
        header["RA"] = (round(ra_deg % 360.0, 7), "commanded pointing RA (deg, ICRS)")
        header["DEC"] = (round(dec_deg, 7), "commanded pointing Dec (deg, ICRS)")
        header["EQUINOX"] = (2000.0, "equinox of RA/DEC")
    if airmass is not None:
        header["AIRMASS"] = (round(airmass, 4), "airmass at mid-exposure")
    header["GAIN"] = (instrument.gain_e_per_adu, "e-/ADU")
    header["RDNOISE"] = (instrument.read_noise_e, "read noise (e-)")
    header["SATURATE"] = (instrument.saturation_adu, "saturation level (ADU)")
    header["BUNIT"] = ("adu", "pixel unit")
    for key, value, comment in (
        ("REQID", request.request_id, "request id"),
        ("SEQID", request.sequence_id, "sequence id"),
        ("PLANID", request.plan_id, "plan id"),
        ("IMAGEID", request.image_id, "image id"),
        ("FRAMENUM", request.frame_index, "index of the frame in its plan"),
    ):
        if value is not None:
            header[key] = (ascii_text(value) if isinstance(value, str) else value, comment)
    if request.alert_ivorn:
        header["IVORN"] = (ascii_text(request.alert_ivorn), "alert followed")
    header["ORIGIN"] = ("PyROS", "software that wrote the frame")
    header["SIMULATD"] = (True, "rendered by the camera simulator")
    header["RENDERER"] = (RENDERER_VERSION, "sky renderer")
    if wcs is not None:
        header.extend(wcs.to_header(relax=False), update=True)
    return header
