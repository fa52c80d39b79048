"""The ``calibrate`` operator deployment: build calibration masters now, for a camera and filters.

Two ways to get the frames:

- ``acquire=False`` (default): the frames already taken, from the night's Image rows or from the
  FITS files of ``directory``;
- ``acquire=True``: take them now through the acquisition hook
  (:func:`tasks.calibration.camera_acquisition.default_acquisition`: bias, darks, then twilight
  flats in the twilight window or dome flats with the PLC's lamp otherwise), with the cameras
  through their gateways; a set that cannot be taken is recorded as failed with the reason.

Masters are built in order (bias, dark, flats) so each uses the one before. A master that cannot
be built is recorded as failed with its reason; the previous good one stays in use. The run
fails only when nothing at all was built, so the operator sees it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from prefect import flow, get_run_logger

from infra.clock import get_clock
from infra.config import get_config
from infra.db.models.calibration import MasterStatus
from tasks.calibration.acquisition import plan_acquisitions
from tasks.calibration.frames import KINDS
from tasks.calibration.prefect_tasks import acquire_task, build_master_task, find_frames_task
from tasks.calibration.service import night_of, record_failure
from tasks.sky import as_time, sun_altitude_deg


@flow(name="calibrate", log_prints=False)
def calibrate(
    camera: str = "Visible camera",
    filters: list[str] | None = None,
    types: list[str] | None = None,
    acquire: bool = False,
    directory: str | None = None,
    night: str | None = None,
) -> list[dict[str, Any]]:
    """Build calibration masters for ``camera`` (and ``filters`` for flats) now.

    Parameters
    ----------
    camera : str
        Instrument name.
    filters : list of str, optional
        Flat filters (default: every filter found among the frames; with ``acquire``, none).
    types : list of str, optional
        Subset of bias, dark, flat (default all three).
    acquire : bool
        Take the frames now through the acquisition hook instead of using frames already taken.
    directory : str, optional
        Use the FITS files of this directory instead of the database.
    night : str, optional
        Night label (default: tonight, from the clock).
    """
    logger = get_run_logger()
    kinds = [k for k in KINDS if k in (types or list(KINDS))]
    now = get_clock().now()
    night = night or night_of(now, get_config())
    if acquire:
        results = _acquire_and_build(camera, kinds, filters or [], night, now)
    else:
        results = _build_from_frames(camera, kinds, filters, night, directory)
    for result in results:
        logger.info(
            "%s %s%s: %s %s",
            camera, result["type"], f" {result['filter']}" if result.get("filter") else "",
            result["status"], result.get("path") or result.get("reason"),
        )  # fmt: skip
    if not any(r["status"] == MasterStatus.GOOD for r in results):
        reasons = "; ".join(f"{r['type']}: {r['reason']}" for r in results) or "no frames found"
        raise RuntimeError(f"no master built for {camera!r} (night {night}): {reasons}")
    return results


def _acquire_and_build(
    camera: str, kinds: list[str], filters: list[str], night: str, now: datetime
) -> list[dict[str, Any]]:
    """Take each set now through the acquisition hook and build its master, in order; a set
    that cannot be taken is recorded as failed. Twilight or dome flats: by the sun at ``now``."""
    config = get_config()
    sun = float(np.ravel(sun_altitude_deg(as_time(now), config))[0])
    results: list[dict[str, Any]] = []
    for request in plan_acquisitions(config, camera, kinds, filters, sun):
        try:
            paths = acquire_task(request.as_dict())
        except Exception as exc:
            results.append(
                record_failure(request.kind, camera, f"acquisition failed: {exc}",
                               filter_name=request.filter, flat_source=request.flat_source,
                               night=night)
            )  # fmt: skip
            continue
        results.append(
            build_master_task(request.kind, paths, camera, request.filter or None,
                              request.flat_source or None, night)
        )  # fmt: skip
    return results


def _build_from_frames(
    camera: str, kinds: list[str], filters: list[str] | None, night: str, directory: str | None
) -> list[dict[str, Any]]:
    """Build a master from each group of frames already taken (the night's, or those of
    ``directory``), bias first, then darks, then flats."""
    logger = get_run_logger()
    groups = find_frames_task(camera, night, directory)
    results: list[dict[str, Any]] = []
    for kind in kinds:
        for key, paths in sorted(groups.items()):
            group_kind, filter_name = key.split("/", 1)
            if group_kind != kind or (kind == "flat" and filters and filter_name not in filters):
                continue
            results.append(build_master_task(kind, paths, camera, filter_name or None, None, night))
        if not any(r["type"] == kind for r in results):
            logger.warning("no %s frames of %s for night %s", kind, camera, night)
    return results
