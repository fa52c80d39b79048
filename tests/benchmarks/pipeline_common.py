"""What the pipeline benchmark's parts share: a configuration's database with masters and the
warm analysis state (:class:`Setup`), and the scores of many frames (:class:`Tally`)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


class Setup:
    """A database with masters for one configuration, and the warm analysis state."""

    def __init__(self, config, home: Path, name: str, engine_name: str | None = None):
        from infra.db.bootstrap import init_database
        from infra.db.engine import create_pyros_engine
        from simulators.sky import SimulatedReferenceCatalog
        from tasks.calibration.calibrator import ScienceCalibrator
        from tasks.nrt.catalog import CatalogCache
        from tasks.nrt.engines import make_engine
        from tests.support.nrt_sky import FrameMaker

        directory = home / name
        directory.mkdir()
        self.config = config
        self.db = create_pyros_engine(f"sqlite:///{directory}/pyros.sqlite")
        init_database(self.db, config)
        self.maker = FrameMaker(config, directory)
        self.maker.masters(self.db)
        self.calibrator = ScienceCalibrator(engine=self.db, config=config)
        self.catalog = CatalogCache(SimulatedReferenceCatalog(config.sky))
        self.engines = {n: make_engine(n) for n in ("sep", "photutils")}
        self.default_engine = engine_name or config.nrt.engine

    def analyse(self, path, alert=None, engine: str | None = None):
        from tasks.nrt.pipeline import analyse_frame

        started = time.perf_counter()
        analysis = analyse_frame(
            path,
            self.calibrator,
            self.catalog,
            self.config,
            alert=alert,
            engine=self.engines[engine or self.default_engine],
        )
        return analysis, time.perf_counter() - started


class Tally:
    """Accumulates frame scores."""

    def __init__(self) -> None:
        self.total = self.found = self.frames = self.false = 0
        self.phot: list[float] = []
        self.phot_flagged: list[float] = []
        self.astrom: list[float] = []
        self.glows: list[dict] = []
        self.failed: list[str] = []

    def add(self, result) -> None:
        self.frames += 1
        self.total += result.completeness_total
        self.found += result.completeness_found
        self.phot += result.phot_residuals
        self.phot_flagged += result.phot_flagged_residuals
        self.astrom.append(result.astrom_grid_rms_arcsec)
        self.glows += result.afterglows
        self.false += result.false_candidates

    def figures(self, prefix: str = "") -> dict:
        bright = [g for g in self.glows if g["snr"] >= 10 and g["inside"]]
        offsets = [g["offset_arcsec"] for g in bright if g["found"]]
        unflagged = np.asarray(self.phot)
        flagged = np.asarray(self.phot_flagged)
        phot = np.concatenate([unflagged, flagged])
        return {
            f"{prefix}completeness_snr10": round(self.found / max(self.total, 1), 4),
            f"{prefix}stars_snr10": self.total,
            # Every measurement matched to the truth; the pipeline's flagged ones also apart.
            f"{prefix}phot_rms_mag_snr50": _rms(phot),
            f"{prefix}phot_mean_mag_snr50": round(float(np.mean(phot)), 4) if len(phot) else None,
            f"{prefix}stars_snr50": len(phot),
            f"{prefix}phot_rms_mag_snr50_unflagged": _rms(unflagged),
            f"{prefix}phot_rms_mag_snr50_flagged": _rms(flagged),
            f"{prefix}phot_flagged_measurements": len(flagged),
            f"{prefix}astrom_rms_arcsec": round(float(np.sqrt(np.mean(np.square(self.astrom)))), 4)
            if self.astrom
            else None,
            f"{prefix}afterglow_recovery_rate": round(
                sum(g["found"] for g in bright) / len(bright), 4
            )
            if bright
            else None,
            f"{prefix}afterglows_snr10": len(bright),
            f"{prefix}afterglow_offset_arcsec_max": round(max(offsets), 4) if offsets else None,
            f"{prefix}false_candidates_per_frame": round(self.false / max(self.frames, 1), 4),
            f"{prefix}frames": self.frames,
            f"{prefix}frames_failed": self.failed,
        }


def _rms(values: np.ndarray) -> float | None:
    return round(float(np.sqrt(np.mean(values**2))), 4) if len(values) else None
