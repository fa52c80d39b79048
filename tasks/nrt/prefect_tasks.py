"""Thin Prefect tasks over the near-real-time analysis (the work is in the pure modules)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from infra.events import prefect_configured
from tasks.nrt.analysis_rows import AnalysisStatus, ImageRow
from tasks.nrt.consumer import FrameSummary, NrtConsumer

#: Stable key of the NRT results table in the Prefect UI (one per sequence, or the block's).
ARTIFACT_KEY = "pyros-nrt"


def artifact_key(sequence_id: int | None) -> str:
    """``pyros-nrt-sequence-<id>`` for a sequence's consumer, ``pyros-nrt`` otherwise."""
    return f"{ARTIFACT_KEY}-sequence-{sequence_id}" if sequence_id is not None else ARTIFACT_KEY


@task(name="nrt-analyse-frame", retries=0, cache_policy=NO_CACHE)
def analyse_frame_task(consumer: NrtConsumer, image: ImageRow) -> FrameSummary:
    """Analyse one frame with the flow's long-lived consumer (a failure is recorded, not raised).

    The consumer's state (masters, catalog fields, light curves) stays in the flow's process;
    no inputs are cached or persisted.
    """
    return consumer.process(image)


def table_rows(summaries: list[FrameSummary]) -> list[dict[str, Any]]:
    """One row per analysed frame, for the table artifact."""
    rows = []
    for s in summaries:
        best = max(s.get("candidates") or [], key=lambda c: c["snr"], default=None)
        rows.append(
            {
                "image": s["image_id"],
                "status": s["status"],
                "sources": s.get("n_sources"),
                "fwhm_arcsec": s.get("fwhm_arcsec"),
                "limiting_mag": s.get("limiting_mag"),
                "zero_point": s.get("zero_point"),
                "astrometry_rms_arcsec": s.get("astrometry_rms_arcsec"),
                "candidates": len(s.get("candidates") or []),
                "best_candidate": None
                if best is None
                else (
                    f"{best['kind']} {best['ra']:.5f} {best['dec']:+.5f} "
                    f"mag {best['mag']} SNR {best['snr']}"
                ),
                "seconds": s.get("seconds"),
                "reason": s.get("reason", ""),
            }
        )
    return rows


def publish_results(key: str, summaries: list[FrameSummary]) -> str | None:
    """Publish the analysed frames as a table artifact; returns the key (None without Prefect)."""
    if not prefect_configured():
        return None
    done = sum(s["status"] == AnalysisStatus.DONE for s in summaries)
    candidates = sum(len(s.get("candidates") or []) for s in summaries)
    create_table_artifact(
        key=key,
        table=table_rows(summaries),
        description=(
            f"**Near-real-time analysis**: {done} frame(s) analysed, "
            f"{len(summaries) - done} failed, {candidates} candidate(s)."
        ),
    )
    return key
