"""The long-lived near-real-time consumer: one per sequence or per block (DESIGN §6).

It runs beside acquisition (its own process: the ``nrt-analysis`` flow run, or ``pyros nrt
run``), fed by the database — the Image rows that have no analysis yet; an image row is inserted
after its file is on disk and before ``pyros.image.acquired`` is emitted, so the database is
never behind the event. It keeps what makes a frame fast in memory between frames (calibration
masters, catalog fields, the extraction engine, each sequence's light curves), and it never
blocks the telescope: acquisition waits on nothing it does, and each of its database writes is a
short transaction.

Per frame: claim (a ``running`` analysis row), analyse (:func:`~tasks.nrt.pipeline.analyse_frame`),
link the candidates into the sequence's light curves, store ``done`` with the figures and the
results, emit ``pyros.nrt.candidate`` for each candidate. Any failure of a frame is recorded as
``failed`` with its reason and the consumer goes on with the next frame.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from infra.clock import Clock, get_clock
from infra.config import SiteConfig, get_config
from infra.events import NRT_CANDIDATE, emit
from infra.refcat import ReferenceCatalog
from tasks.calibration.calibrator import ScienceCalibrator
from tasks.nrt import analysis_rows as store
from tasks.nrt.analysis_rows import AnalysisStatus, ImageRow
from tasks.nrt.blind import blind_candidates, wants_blind_search
from tasks.nrt.candidates import AlertRegion
from tasks.nrt.catalog import CatalogCache
from tasks.nrt.frame import Calibrator, NrtError
from tasks.nrt.lightcurve import LightCurveTracker
from tasks.nrt.pipeline import FrameAnalysis, analyse_frame, configured_engine

log = logging.getLogger(__name__)

#: What the consumer reports for one frame: ``image_id``, ``analysis_id``, ``path`` (the frame's
#: file), ``status``, ``reason``, the figures when done, ``candidates``, ``light_curves``,
#: ``seconds``.
FrameSummary = dict[str, Any]


@dataclass
class RunSummary:
    """What a consumer run did."""

    done: int = 0
    failed: int = 0
    candidates: int = 0
    stopped: str = ""
    seconds: list[float] = field(default_factory=list)
    results: list[FrameSummary] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The run as plain data (each frame in brief)."""
        return {
            "done": self.done,
            "failed": self.failed,
            "candidates": self.candidates,
            "stopped": self.stopped,
            "frames": self.results,
        }


class NrtConsumer:
    """Analyses frames as they arrive; see the module docstring.

    Parameters
    ----------
    catalog : ReferenceCatalog or CatalogCache
        The reference catalog (see :func:`infra.refcat.load_reference_catalog`), or a cache of
        its queries already shared.
    engine : Engine, optional
        The database (default: the process database).
    config : SiteConfig, optional
        Site configuration (default: the process configuration).
    calibrator : optional
        A ``ScienceCalibrator`` (default: one on ``engine``, masters cached for this consumer).
    clock : Clock, optional
        Gives the analysis instants and the ``until`` limit (default: the process clock).
    on_result : callable, optional
        Called with each frame's summary (the flow publishes its table artifact there).
    emit_events : bool
        Emit ``pyros.nrt.candidate`` events (journaled; sent to Prefect when configured).
    """

    def __init__(
        self,
        catalog: ReferenceCatalog | CatalogCache,
        *,
        engine: Engine | None = None,
        config: SiteConfig | None = None,
        calibrator: Calibrator | None = None,
        clock: Clock | None = None,
        on_result: Callable[[FrameSummary], None] | None = None,
        emit_events: bool = True,
    ) -> None:
        self.db = engine
        self.config = config or get_config()
        self.catalog = catalog if isinstance(catalog, CatalogCache) else CatalogCache(catalog)
        self.calibrator: Calibrator = calibrator or ScienceCalibrator(
            engine=engine, config=self.config
        )
        self.clock = clock or get_clock()
        self.on_result = on_result
        self.emit_events = emit_events
        self.extraction_engine = configured_engine(self.config)
        self.trackers: dict[int | None, LightCurveTracker] = {}
        self._wake = threading.Event()

    def notify(self) -> None:
        """Wake the polling loop now (a frame was announced in this process)."""
        self._wake.set()

    def stale_before(self) -> datetime:
        """Claims still ``running`` that were made before this instant (simulated) are abandoned
        and taken over (:data:`~tasks.nrt.analysis_rows.CLAIM_LEASE_WALL_S`, wall seconds)."""
        # A discrete-event clock (replay, tests) has no wall time: its seconds stand for it.
        speed = self.clock.speed if math.isfinite(self.clock.speed) else 1.0
        lease = timedelta(seconds=store.CLAIM_LEASE_WALL_S * speed)
        return self.clock.now() - lease

    def process(self, image: ImageRow) -> FrameSummary | None:
        """Analyse one image row (``id``, ``path``, ``sequence_id``, ``alert_ivorn``).

        Returns the frame's summary (``image_id``, ``status``, ``reason``, figures, candidates),
        or None when another consumer has claimed the frame (see ``analysis_rows.claim``) or
        took it over while this analysis outlived its lease (its outcome is the one kept).
        Never raises for a bad frame: the failure is recorded with its reason.
        """
        image_id = image["id"]
        claimed = store.claim(self.db, image_id, self.clock.now(), self.stale_before())
        if claimed is None:
            log.debug("NRT analysis of %s: claimed by another consumer", image_id)
            return None
        started = time.perf_counter()
        alert = store.alert_region(self.db, image.get("alert_ivorn"))
        try:
            analysis = analyse_frame(
                image["path"],
                self.calibrator,
                self.catalog,
                self.config,
                alert=alert,
                engine=self.extraction_engine,
            )
        except NrtError as exc:
            return self._failed(claimed, image, str(exc), started)
        except Exception as exc:  # a bug or a library failure: recorded, the consumer goes on
            log.warning(
                "NRT analysis of %s failed unexpectedly:\n%s", image_id, traceback.format_exc()
            )
            return self._failed(claimed, image, f"{type(exc).__name__}: {exc}", started)
        blind = self._blind_search(analysis, alert)
        tracker = self._tracker(image.get("sequence_id"), alert)
        tracks = tracker.update(
            analysis.frame.mid_time, image_id, analysis.candidates, analysis.forced
        )
        results = analysis.results()
        results["light_curves"] = tracks
        if blind is not None:
            results["blind_search"] = blind
        if alert is None and image.get("alert_ivorn"):
            results["notes"].append(f"alert {image['alert_ivorn']} has no stored position")
        figures = analysis.figures()
        recorded = store.finish(
            self.db,
            claimed,
            status=AnalysisStatus.DONE,
            now=self.clock.now(),
            figures=figures,
            results=results,
        )
        if not recorded:
            return None
        summary = {
            "image_id": image_id,
            "analysis_id": claimed.analysis_id,
            "path": str(image["path"]),
            "status": AnalysisStatus.DONE.value,
            "reason": "",
            **figures,
            "candidates": analysis.candidates,
            "light_curves": tracks,
            "seconds": round(time.perf_counter() - started, 3),
        }
        self._announce(summary, image)
        return summary

    def _blind_search(
        self, analysis: FrameAnalysis, alert: AlertRegion | None
    ) -> dict[str, Any] | None:
        """Search a tiled follow-up's frame by difference imaging (:mod:`tasks.nrt.blind`):
        its candidates join the analysis's; returns the search's summary (None: not searched).

        A search that fails leaves the frame's analysis as it is, with the reason."""
        nrt = self.config.nrt
        frame = analysis.frame
        if alert is None or not wants_blind_search(
            nrt.blind_search, alert, frame.shape, frame.pixel_scale_arcsec
        ):
            return None
        try:
            analysis.candidates, summary = blind_candidates(
                analysis, self.catalog, alert, nrt.max_offset_arcsec, nrt.link_radius_arcsec
            )
        except Exception as exc:  # the frame's own analysis stands without it
            log.warning("blind search of %s failed:\n%s", frame.path, traceback.format_exc())
            return {"failed": f"{type(exc).__name__}: {exc}"}
        return summary

    def run(
        self,
        *,
        sequence_id: int | None = None,
        until: datetime | None = None,
        idle_timeout_s: float | None = None,
        max_images: int | None = None,
        stop: threading.Event | None = None,
        since: datetime | None = None,
        runner: Callable[[ImageRow], FrameSummary | None] | None = None,
    ) -> RunSummary:
        """Analyse frames as they come, until one of the stop conditions.

        Parameters
        ----------
        sequence_id : int, optional
            Only this sequence's frames; the run ends once the sequence is over (executed,
            interrupted, cancelled...) and all its frames are analysed.
        until : datetime, optional
            End at this instant of the clock (a block's end).
        idle_timeout_s : float, optional
            End after this many wall seconds without a new frame (default ``[nrt]
            idle_timeout_s``).
        max_images : int, optional
            End after this many frames.
        stop : threading.Event, optional
            End when set (a caller running the consumer in a thread).
        since : datetime, optional
            Ignore frames acquired before this instant.
        runner : callable, optional
            Runs :meth:`process` for one image (the flow wraps it in a Prefect task); None
            when another consumer claimed the frame (not counted here).
        """
        nrt = self.config.nrt
        idle_limit = nrt.idle_timeout_s if idle_timeout_s is None else idle_timeout_s
        summary = RunSummary()
        last_frame = time.monotonic()
        while True:
            if stop is not None and stop.is_set():
                summary.stopped = "stop requested"
                break
            batch = store.pending_images(
                self.db, sequence_id=sequence_id, since=since, stale_before=self.stale_before()
            )
            for image in batch:
                result = runner(image) if runner is not None else self.process(image)
                if result is None:
                    continue
                summary.results.append(_brief(result))
                summary.seconds.append(result["seconds"])
                if result["status"] == AnalysisStatus.DONE:
                    summary.done += 1
                    summary.candidates += len(result["candidates"])
                else:
                    summary.failed += 1
                if max_images is not None and summary.done + summary.failed >= max_images:
                    summary.stopped = f"{max_images} frame(s) analysed"
                    return summary
            if batch:
                last_frame = time.monotonic()
                continue
            if until is not None and self.clock.now() >= until:
                summary.stopped = f"reached {until.isoformat()}"
                break
            if sequence_id is not None:
                state = store.sequence_state(self.db, sequence_id)
                if state is None:
                    summary.stopped = f"sequence {sequence_id} does not exist"
                    break
                if state in store.SEQUENCE_DONE:
                    summary.stopped = f"sequence {sequence_id} is {state}"
                    break
            if time.monotonic() - last_frame >= idle_limit:
                summary.stopped = f"no new frame for {idle_limit:g} s"
                break
            self._wake.wait(nrt.poll_s)
            self._wake.clear()
        return summary

    def _tracker(self, sequence_id: int | None, alert: AlertRegion | None) -> LightCurveTracker:
        tracker = self.trackers.get(sequence_id)
        if tracker is None:
            trigger = alert.trigger_time if alert is not None else None
            tracker = LightCurveTracker(self.config.nrt.link_radius_arcsec, trigger)
            if sequence_id is not None:
                tracker.restore(store.stored_tracks(self.db, sequence_id))
            self.trackers[sequence_id] = tracker
        elif tracker.trigger_time is None and alert is not None and alert.trigger_time is not None:
            tracker.trigger_time = alert.trigger_time
        return tracker

    def _failed(
        self, claimed: store.Claim, image: ImageRow, reason: str, started: float
    ) -> FrameSummary | None:
        recorded = store.finish(
            self.db,
            claimed,
            status=AnalysisStatus.FAILED,
            now=self.clock.now(),
            reason=reason,
            results={"path": str(image["path"])},
        )
        if not recorded:
            return None
        log.info("NRT analysis of %s failed: %s", image["id"], reason)
        summary = {
            "image_id": image["id"],
            "analysis_id": claimed.analysis_id,
            "path": str(image["path"]),
            "status": AnalysisStatus.FAILED.value,
            "reason": reason,
            "candidates": [],
            "light_curves": [],
            "seconds": round(time.perf_counter() - started, 3),
        }
        if self.on_result is not None:
            self.on_result(summary)
        return summary

    def _announce(self, summary: FrameSummary, image: ImageRow) -> None:
        if self.emit_events:
            for candidate in summary["candidates"]:
                related: list[Mapping[str, str]] = []
                if candidate.get("alert_ivorn"):
                    related.append(
                        {
                            "prefect.resource.id": f"pyros.alert.{candidate['alert_ivorn']}",
                            "prefect.resource.role": "alert",
                        }
                    )
                payload = {
                    "image_id": image["id"],
                    "analysis_id": summary["analysis_id"],
                    "sequence_id": image.get("sequence_id"),
                    **candidate,
                }
                emit(
                    NRT_CANDIDATE,
                    f"pyros.image.{image['id']}",
                    payload,
                    source="nrt-analysis",
                    related=related,
                    into=self.db,
                    clock=self.clock,
                )
        if self.on_result is not None:
            self.on_result(summary)


def _brief(result: FrameSummary) -> dict[str, Any]:
    keep = (
        "image_id",
        "status",
        "reason",
        "n_sources",
        "fwhm_arcsec",
        "limiting_mag",
        "zero_point",
        "astrometry_rms_arcsec",
        "seconds",
    )
    brief = {k: result[k] for k in keep if k in result}
    brief["candidates"] = len(result.get("candidates", []))
    return brief
