"""The ``nrt-analysis`` flow: the long-lived near-real-time consumer of a sequence or a block.

It runs beside acquisition (DESIGN §6): the night flows start one per sequence (``sequence_id``)
or per block (``until``); it analyses every light frame as its Image row appears, one Prefect
task per frame in the same process (masters, catalog fields and light curves stay in memory),
publishes the results table (the latest frames, updated in place) and the frames' previews
as artifacts (docs/controlroom.md) and emits ``pyros.nrt.candidate``. It is also what
``pyros nrt run`` runs, without Prefect.

The consumer is wired by :mod:`tasks.nrt.consumer_run` (the reference catalog named by
``[nrt] reference_catalog``), shared with ``pyros nrt run``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from infra.config import get_config
from infra.settings import load_settings
from tasks.controlroom.prefect_tasks import preview_frame
from tasks.nrt.analysis_rows import AnalysisStatus
from tasks.nrt.consumer import FrameSummary
from tasks.nrt.consumer_run import run_consumer
from tasks.nrt.prefect_tasks import analyse_frame_task, artifact_key, publish_results
from tasks.nrt.results_window import ResultsWindow


@flow(name="nrt-analysis", log_prints=False)
def nrt_analysis(
    sequence_id: int | None = None,
    until: str | None = None,
    idle_timeout_s: float | None = None,
    max_images: int | None = None,
) -> dict[str, Any]:
    """Analyse frames as they are acquired, until the sequence ends, ``until`` or idleness.

    Parameters
    ----------
    sequence_id : int, optional
        Only this sequence's frames; the run ends when the sequence is over and analysed.
    until : str, optional
        ISO instant (simulated clock) at which the run ends (a block's end).
    idle_timeout_s : float, optional
        End after this many wall seconds without a frame (default ``[nrt] idle_timeout_s``).
    max_images : int, optional
        End after this many frames.
    """
    logger = get_run_logger()
    room = get_config().controlroom
    previews_dir = load_settings().home / "previews"
    # The artifact shows the latest frames and the run's totals, updated in place (bounded).
    window = ResultsWindow(room.nrt_artifact_frames)
    key = artifact_key(sequence_id)

    def on_result(summary: FrameSummary) -> None:
        preview = preview_frame(summary, room, previews_dir)
        window.add(summary, preview.url(room.previews_base_url()) if preview else None)
        if summary["status"] == AnalysisStatus.DONE:
            logger.info(
                "%s: %d sources, FWHM %.2f″, depth %.2f, %d candidate(s) in %.2f s",
                summary["image_id"],
                summary["n_sources"],
                summary["fwhm_arcsec"],
                summary["limiting_mag"],
                len(summary["candidates"]),
                summary["seconds"],
            )
        else:
            logger.warning("%s: analysis failed: %s", summary["image_id"], summary["reason"])
        publish_results(key, window)

    result = run_consumer(
        sequence_id=sequence_id,
        until=until,
        idle_timeout_s=idle_timeout_s,
        max_images=max_images,
        on_result=on_result,
        runner_factory=lambda c: lambda image: analyse_frame_task(c, image),
    )
    logger.info(
        "NRT consumer ended (%s): %d done, %d failed, %d candidate(s)",
        result.stopped,
        result.done,
        result.failed,
        result.candidates,
    )
    return result.as_dict()
