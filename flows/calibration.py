"""The ``calibrate`` operator deployment: build calibration masters now, for a camera and filters.

Two ways to get the frames:

- ``acquire=False`` (default): the frames already taken, from the night's Image rows or from the
  FITS files of ``directory``;
- ``acquire=True``: take them now through the acquisition hook
  (:func:`tasks.calibration.acquisition.default_acquisition`: bias, darks, then twilight flats in
  the twilight window or dome flats with the PLC's lamp otherwise), with the cameras through
  their gateways; a set that cannot be taken is recorded as failed with the reason.

Masters are built in order (bias, dark, flats) so each uses the one before. A master that cannot
be built is recorded as failed with its reason; the previous good one stays in use. The run
fails only when nothing at all was built, so the operator sees it.
"""

from __future__ import annotations

import numpy as np
from prefect import flow, get_run_logger

from tasks.calibration.prefect_tasks import acquire_task, build_master_task, find_frames_task


@flow(name="calibrate", log_prints=False)
def calibrate(
    camera: str = "Visible camera",
    filters: list[str] | None = None,
    types: list[str] | None = None,
    acquire: bool = False,
    directory: str | None = None,
    night: str | None = None,
) -> list[dict]:
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
    from infra.clock import get_clock
    from infra.config import get_config
    from tasks.calibration.acquisition import plan_acquisitions
    from tasks.calibration.service import night_of
    from tasks.sky import as_time, sun_altitude_deg

    logger = get_run_logger()
    config = get_config()
    kinds = [k for k in ("bias", "dark", "flat") if k in (types or ["bias", "dark", "flat"])]
    now = get_clock().now()
    night = night or night_of(now, config)
    results: list[dict] = []
    if acquire:
        sun = float(np.ravel(sun_altitude_deg(as_time(now), config))[0])
        plan = plan_acquisitions(config, camera, kinds, filters or [], sun)
        for request in plan:
            try:
                paths = acquire_task(request.as_dict())
            except Exception as exc:
                from tasks.calibration.service import record_failure

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
    else:
        groups = find_frames_task(camera, night, directory)
        for kind in kinds:
            for key, paths in sorted(groups.items()):
                group_kind, filter_name = key.split("/", 1)
                if group_kind != kind or (
                    kind == "flat" and filters and filter_name not in filters
                ):
                    continue
                results.append(
                    build_master_task(kind, paths, camera, filter_name or None, None, night)
                )
            if not any(r["type"] == kind for r in results):
                logger.warning("no %s frames of %s for night %s", kind, camera, night)
    for result in results:
        logger.info(
            "%s %s%s: %s %s",
            camera, result["type"], f" {result['filter']}" if result.get("filter") else "",
            result["status"], result.get("path") or result.get("reason"),
        )  # fmt: skip
    if not any(r["status"] == "good" for r in results):
        reasons = "; ".join(f"{r['type']}: {r['reason']}" for r in results) or "no frames found"
        raise RuntimeError(f"no master built for {camera!r} (night {night}): {reasons}")
    return results
