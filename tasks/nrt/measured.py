"""A frame as measured: what the candidate searches read once astrometry and photometric
calibration are done.

:mod:`~tasks.nrt.pipeline` builds one :class:`MeasuredFrame` per frame; the aperture candidates
(:mod:`~tasks.nrt.candidates`) and the alert region's scene fit (:mod:`~tasks.nrt.alert_search`)
read it instead of a dozen separate arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS

from infra.refcat import CatalogStars
from tasks.nrt.engines import ExtractionEngine
from tasks.nrt.extract import Extraction
from tasks.nrt.frame import FramePixels, ScienceFrame
from tasks.nrt.photcal import ZeroPoint

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ProjectedCatalog:
    """The catalog stars on the frame, in the order of the catalog.

    Pixel positions through the fitted WCS (NaN where the projection fails), the flux (ADU) each
    star should give on this frame at its catalog magnitude, and the catalog's position errors.
    """

    x: Floats
    y: Floats
    flux: Floats
    pos_err_arcsec: Floats


@dataclass(frozen=True)
class MeasuredFrame:
    """One frame after extraction, astrometry and photometric calibration.

    ``ra``, ``dec``, ``mag``, ``mag_err`` and ``catalog_match`` (the nearest catalog star of each
    detection within the match radius, -1: none) run parallel to the extraction's sources.
    """

    frame: ScienceFrame
    pixels: FramePixels
    extraction: Extraction
    engine: ExtractionEngine
    wcs: WCS  # the fitted WCS
    zero_point: ZeroPoint
    stars: CatalogStars
    catalog: ProjectedCatalog
    catalog_match: npt.NDArray[np.int64]
    ra: Floats
    dec: Floats
    mag: Floats
    mag_err: Floats
