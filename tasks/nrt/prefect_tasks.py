"""Thin Prefect tasks over the near-real-time analysis (the work is in the pure modules)."""

from __future__ import annotations

import logging

from prefect import task
from prefect.artifacts import TableArtifact
from prefect.cache_policies import NO_CACHE

from infra.events import prefect_configured
from tasks.controlroom.prefect_tasks import upsert_artifact
from tasks.nrt.analysis_rows import ImageRow
from tasks.nrt.consumer import FrameSummary, NrtConsumer
from tasks.nrt.results_window import ResultsWindow

log = logging.getLogger(__name__)

#: Stable key of the NRT results table in the Prefect UI (one per sequence, or the block's).
ARTIFACT_KEY = "pyros-nrt"


def artifact_key(sequence_id: int | None) -> str:
    """``pyros-nrt-sequence-<id>`` for a sequence's consumer, ``pyros-nrt`` otherwise."""
    return f"{ARTIFACT_KEY}-sequence-{sequence_id}" if sequence_id is not None else ARTIFACT_KEY


@task(name="nrt-analyse-frame", retries=0, cache_policy=NO_CACHE)
def analyse_frame_task(consumer: NrtConsumer, image: ImageRow) -> FrameSummary | None:
    """Analyse one frame with the flow's long-lived consumer (a failure is recorded, not raised;
    None when another consumer claimed the frame).

    The consumer's state (masters, catalog fields, light curves) stays in the flow's process;
    no inputs are cached or persisted.
    """
    return consumer.process(image)


def publish_results(key: str, window: ResultsWindow) -> str | None:
    """Publish the window of analysed frames (the latest ones and the run's totals) as a table
    artifact under ``key``, updated in place; returns the key (None without Prefect, or when
    the API did not take it: logged, the next frame tries again)."""
    if not prefect_configured():
        return None
    try:
        upsert_artifact(
            TableArtifact(key=key, table=window.rows(), description=window.description())
        )
    except Exception as exc:  # the Prefect API away: the frame is analysed and stored anyway
        log.warning("NRT results artifact %s not published: %s", key, exc)
        return None
    return key
