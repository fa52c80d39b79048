"""The science calibrator of a long-lived consumer: masters chosen per night, kept in memory."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from infra.clock import get_clock
from infra.config import SiteConfig, get_config
from infra.db import session_scope
from tasks.calibration.frames import ascii_fold
from tasks.calibration.master_registry import choose_master
from tasks.calibration.science import (
    STEPS,
    CalibratedFrame,
    CalibrationError,
    MasterCache,
    UsedMaster,
    calibrate_frame,
    calibrated_path,
    read_raw,
)
from tasks.calibration.service import load_choice, night_of


@dataclass
class _Selection:
    used: dict[str, UsedMaster]
    missing: dict[str, str]
    expires: float


class ScienceCalibrator:
    """Calibrates frames for a long-lived consumer: masters chosen per night, kept in memory.

    Parameters
    ----------
    engine : Engine, optional
        Database holding the masters (default: the process database).
    config : SiteConfig, optional
        Site configuration.
    cache : MasterCache, optional
        Masters in memory (one per consumer).
    reselect_s : float
        How long a choice of masters is reused before the database is asked again (wall seconds:
        a master built meanwhile is picked up within this time).
    """

    def __init__(
        self,
        engine: Engine | None = None,
        config: SiteConfig | None = None,
        cache: MasterCache | None = None,
        reselect_s: float = 60.0,
    ) -> None:
        self.engine = engine
        self.config = config or get_config()
        self.cache = cache or MasterCache()
        self.reselect_s = reselect_s
        self._selections: dict[tuple[str, str, float, str, tuple[int, int]], _Selection] = {}

    def select(
        self, camera: str, filter_name: str, exposure_s: float, night: str, shape: tuple[int, int]
    ) -> _Selection:
        """The masters for a frame (cached for ``reselect_s``)."""
        height, width = shape
        key = (camera, filter_name, round(exposure_s, 3), night, (height, width))
        now = time.monotonic()
        selection = self._selections.get(key)
        if selection is not None and selection.expires > now:
            return selection
        used: dict[str, UsedMaster] = {}
        missing: dict[str, str] = {}
        max_age = self.config.calibration.max_master_age_nights
        with session_scope(self.engine) as session:
            for step in STEPS:
                if step == "flat" and not filter_name:
                    missing[step] = "the frame has no FILTER"
                    continue
                choice = choose_master(
                    session,
                    camera,
                    step,
                    night,
                    filter_name=filter_name,
                    exposure_s=exposure_s,
                    shape=shape,
                    max_age_nights=max_age,
                )
                if choice is None:
                    what = f"{step} for {camera!r}" + (
                        f" in {filter_name!r}" if step == "flat" else ""
                    )
                    missing[step] = f"no good master {what} within {max_age} nights of {night}"
                    continue
                try:
                    used[step] = UsedMaster(load_choice(choice, self.cache), choice.age_nights)
                except Exception as exc:
                    missing[step] = f"master {choice.id} unusable: {exc}"
        selection = _Selection(used, missing, now + self.reselect_s)
        self._selections[key] = selection
        return selection

    def calibrate(
        self,
        raw_path: Path | str,
        output: Path | bool | None = True,
        *,
        require: Sequence[str] = (),
    ) -> CalibratedFrame:
        """Calibrate a raw frame with the masters of its night.

        Parameters
        ----------
        raw_path : path
            The raw frame.
        output : Path, bool or None
            Where to write the result: a path, True for ``<frame>.cal.fits`` beside the raw
            frame, False/None to keep it in memory only.
        require : sequence of str
            Steps that must be applied (a missing master then raises instead of being skipped).

        Raises
        ------
        CalibrationError
            Unreadable frame, missing keyword, unknown camera, a required master missing.
        """
        raw_path = Path(raw_path)
        raw = read_raw(raw_path)
        info = raw[1]
        camera = self._camera(info["instrument"])
        night = night_of(info["date_obs"], self.config)
        selection = self.select(camera, info["filter"], info["exposure_s"], night, info["shape"])
        absent = [step for step in require if step in selection.missing]
        if absent:
            reasons = "; ".join(selection.missing[s] for s in absent)
            raise CalibrationError(f"{raw_path}: required calibration missing: {reasons}")
        if output is True:
            output_path: Path | None = calibrated_path(raw_path)
        elif output:
            output_path = Path(output)
        else:
            output_path = None
        return calibrate_frame(
            raw_path,
            selection.used,
            missing=selection.missing,
            cache=self.cache,
            output_path=output_path,
            when=get_clock().now(),
            raw=raw,
        )

    def _camera(self, instrume: str) -> str:
        for instrument in self.config.instruments:
            if ascii_fold(instrument.name) == ascii_fold(instrume):
                return instrument.name
        raise CalibrationError(f"INSTRUME {instrume!r} is not a configured camera")
