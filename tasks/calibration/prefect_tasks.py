"""Thin Prefect tasks over calibration (the work is in :mod:`tasks.calibration.service`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.runtime import flow_run

from tasks.calibration.acquisition import AcquisitionRequest
from tasks.calibration.camera_acquisition import default_acquisition
from tasks.calibration.frames import KINDS
from tasks.calibration.service import build_and_record, frames_from_database, group_frames


@task(name="build-master", retries=0)
def build_master_task(
    kind: str,
    paths: list[str],
    camera: str,
    filter_name: str | None = None,
    flat_source: str | None = None,
    night: str | None = None,
) -> dict[str, Any]:
    """Build, write and record one master; a failure is recorded and returned, never raised.

    Returns
    -------
    dict
        The master row (``id``, ``status``, ``reason``, ``path``, ``rejected``, ``quality``).
    """
    return build_and_record(
        kind, paths, camera=camera, filter_name=filter_name, flat_source=flat_source, night=night
    )


@task(name="find-calibration-frames", retries=0)
def find_frames_task(camera: str, night: str, directory: str | None = None) -> dict[str, list[str]]:
    """The night's calibration frames of ``camera`` grouped by ``kind/filter``.

    From the Image rows of the night, or from the FITS files of ``directory`` when given.
    """
    if directory:
        paths = sorted(Path(directory).glob("*.fit*"))
    else:
        paths = [p for kind in KINDS for p in frames_from_database(camera, kind, night)]
    groups = group_frames(paths, camera)
    return {f"{kind}/{filt}": [str(p) for p in found] for (kind, filt), found in groups.items()}


@task(name="acquire-calibration-frames", retries=0)
def acquire_task(request: dict[str, Any]) -> list[str]:
    """Take the frames of one request through the installation's acquisition hook."""
    acquire = default_acquisition(owner=f"calibrate:{flow_run.name or 'manual'}")
    return [str(p) for p in acquire(AcquisitionRequest(**request))]
