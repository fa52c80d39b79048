"""The camera simulator's sky: deterministic synthetic frames with their truth.

The camera simulator calls::

    from simulators.sky import FrameRequest, render_frame, write_frame

    rendered = render_frame(FrameRequest(instrument="Visible camera", image_type="light",
                                         start=clock.now(), exposure_s=30.0, filter="r",
                                         ra_deg=ra, dec_deg=dec, ...))
    files = write_frame(rendered, path)   # truth first, then the FITS, both atomic

The image pipeline is handed :class:`SimulatedReferenceCatalog` by configuration (one
implementation of :class:`infra.refcat.ReferenceCatalog`). See ``docs/sky.md``.
"""

from simulators.sky.catalog import StarModel, stars_in_cone
from simulators.sky.detector import DetectorModel, detector_model
from simulators.sky.output import FrameFiles, read_truth, truth_path_for, write_frame
from simulators.sky.refcat import SimulatedReferenceCatalog
from simulators.sky.render import render_frame
from simulators.sky.request import Afterglow, FrameRequest, FrameRequestError, RenderedFrame

__all__ = [
    "Afterglow",
    "DetectorModel",
    "FrameFiles",
    "FrameRequest",
    "FrameRequestError",
    "RenderedFrame",
    "SimulatedReferenceCatalog",
    "StarModel",
    "detector_model",
    "read_truth",
    "render_frame",
    "stars_in_cone",
    "truth_path_for",
    "write_frame",
]
