"""``pyros nrt``: run the near-real-time consumer, list analyses, analyse one frame.

``run`` wires its consumer through :mod:`tasks.nrt.consumer_run` like the ``nrt-analysis`` flow,
and ``frame`` analyses with the same reference catalog (the one ``[nrt] reference_catalog``
names, :func:`infra.refcat.load_reference_catalog`).

The analysis modules (astropy, scipy, SEP), the database and the configuration are imported by
the commands that use them: every ``pyros`` command imports this module, and the CLI starts in
under 2 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from app.cli.errors import CliError
from app.cli.groups import command_group
from app.cli.output import print_json, print_table

app = command_group("Near-real-time analysis of the frames (consumer, results).")


@app.command()
def run(
    sequence: int = typer.Option(
        None, "--sequence", help="Only this sequence's frames; end when it is over and analysed."
    ),
    until: str = typer.Option(
        None, "--until", help="End at this ISO instant of the clock (e.g. 2026-12-09T08:00:00Z)."
    ),
    idle_timeout: float = typer.Option(
        None,
        "--idle-timeout",
        min=0.0,
        help="End after this many seconds without a frame (default [nrt]).",
    ),
    max_images: int = typer.Option(None, "--max-images", min=1, help="End after N frames."),
    json_output: bool = typer.Option(False, "--json", help="Print the run's summary as JSON."),
) -> None:
    """Analyse frames as they are acquired (Image rows without an analysis), one per line."""
    from app.cli.common import ready_engine  # sqlalchemy (start-up time)

    engine = ready_engine()
    from tasks.nrt.analysis_rows import AnalysisStatus  # the analysis (start-up time)
    from tasks.nrt.consumer_run import parse_until, run_consumer

    try:
        until_at = parse_until(until)
    except ValueError as exc:
        raise CliError(f"--{exc}") from None

    def show(summary: dict[str, Any]) -> None:
        if json_output:
            return
        if summary["status"] == AnalysisStatus.DONE:
            typer.echo(
                f"{summary['image_id']}: done in {summary['seconds']:.2f} s, "
                f"{summary['n_sources']} sources, FWHM {summary['fwhm_arcsec']:.2f}″, "
                f"depth {summary['limiting_mag']:.2f}, astrometry "
                f"{summary['astrometry_rms_arcsec']:.3f}″, "
                f"{len(summary['candidates'])} candidate(s)"
            )
            for c in summary["candidates"]:
                typer.echo(
                    f"  candidate {c['kind']} {c['ra']:.6f} {c['dec']:+.6f} "
                    f"mag {c['mag']} SNR {c['snr']}"
                )
        else:
            typer.echo(f"{summary['image_id']}: failed: {summary['reason']}")

    result = run_consumer(
        sequence_id=sequence,
        until=until_at,
        idle_timeout_s=idle_timeout,
        max_images=max_images,
        on_result=show,
        engine=engine,
    )
    if json_output:
        print_json(result.as_dict())
    else:
        typer.echo(
            f"ended ({result.stopped}): {result.done} done, {result.failed} failed, "
            f"{result.candidates} candidate(s)"
        )


@app.command("list")
def list_analyses(
    sequence: int = typer.Option(None, "--sequence", help="Only this sequence's frames."),
    status: str = typer.Option(None, "--status", help="Only done, failed or running."),
    limit: int = typer.Option(50, "--limit", min=1, help="Most recent N analyses."),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List the most recent analyses with their figures, candidates or failure reason."""
    # The database layer (start-up time).
    from sqlalchemy import select

    from app.cli.common import ready_engine
    from infra.db import session_scope
    from infra.db.models import Image, NrtAnalysis
    from tasks.nrt.analysis_rows import AnalysisStatus

    query = (
        select(NrtAnalysis, Image.sequence_id)
        .join(Image, Image.id == NrtAnalysis.image_id)
        .order_by(NrtAnalysis.id.desc())
        .limit(limit)
    )
    if sequence is not None:
        query = query.where(Image.sequence_id == sequence)
    if status is not None:
        query = query.where(NrtAnalysis.status == status)
    with session_scope(ready_engine()) as session:
        items = [
            {
                "id": a.id,
                "image_id": a.image_id,
                "sequence_id": seq,
                "status": a.status,
                "reason": a.reason,
                "n_sources": a.n_sources,
                "fwhm_arcsec": a.fwhm_arcsec,
                "limiting_mag": a.limiting_mag,
                "zero_point": a.zero_point,
                "astrometry_rms_arcsec": a.astrometry_rms_arcsec,
                "candidates": (a.results or {}).get("candidates", []),
            }
            for a, seq in session.execute(query)
        ]
    if json_output:
        print_json(items)
        return

    def figure(value: float | None, digits: int) -> str:
        return "" if value is None else f"{value:.{digits}f}"

    print_table(
        "Near-real-time analyses",
        ["id", "image", "status", "sources", "FWHM″", "depth", "astrom″", "candidates / reason"],
        [
            [
                i["id"],
                i["image_id"],
                i["status"],
                i["n_sources"] or "",
                figure(i["fwhm_arcsec"], 2),
                figure(i["limiting_mag"], 2),
                figure(i["astrometry_rms_arcsec"], 3),
                len(i["candidates"]) if i["status"] == AnalysisStatus.DONE else i["reason"],
            ]
            for i in items
        ],
    )


@app.command()
def frame(
    raw: Path = typer.Argument(..., help="Raw light frame (FITS) to analyse."),
    alert_ra: float = typer.Option(None, "--alert-ra", help="Alert position RA (deg)."),
    alert_dec: float = typer.Option(None, "--alert-dec", help="Alert position Dec (deg)."),
    alert_radius: float = typer.Option(
        0.0, "--alert-radius", min=0.0, help="Alert error radius (arcsec)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Analyse one frame now (nothing is stored): figures and candidates."""
    from app.cli.common import ready_engine  # sqlalchemy (start-up time)
    from infra.config import get_config  # pydantic (start-up time)

    if (alert_ra is None) != (alert_dec is None):
        raise CliError("--alert-ra and --alert-dec go together")
    engine = ready_engine()
    # The analysis: astropy, scipy, SEP (start-up time).
    from infra.refcat import load_reference_catalog
    from tasks.calibration.calibrator import ScienceCalibrator
    from tasks.nrt.candidates import AlertRegion
    from tasks.nrt.catalog import CatalogCache
    from tasks.nrt.frame import NrtError
    from tasks.nrt.pipeline import analyse_frame

    config = get_config()
    alert = None
    if alert_ra is not None and alert_dec is not None:
        alert = AlertRegion("cli", alert_ra, alert_dec, alert_radius)
    try:
        analysis = analyse_frame(
            raw,
            ScienceCalibrator(engine=engine, config=config),
            CatalogCache(load_reference_catalog(config)),
            config,
            alert=alert,
        )
    except NrtError as exc:
        raise CliError(str(exc)) from None
    results = {"ok": True, "path": str(raw), **analysis.figures(), **analysis.results()}
    if json_output:
        print_json(results)
        return
    figures = analysis.figures()
    typer.echo(
        f"{raw}: {figures['n_sources']} sources, FWHM {figures['fwhm_arcsec']:.2f}″, "
        f"zero point {figures['zero_point']:.3f}, depth {figures['limiting_mag']:.2f}, "
        f"astrometry {figures['astrometry_rms_arcsec']:.3f}″ "
        f"({results['astrometry']['n_matches']} stars, pointing off by "
        f"{results['astrometry']['pointing_offset_arcsec']:.1f}″), "
        f"{analysis.seconds['total']:.2f} s"
    )
    for c in analysis.candidates:
        typer.echo(
            f"  candidate {c['kind']} {c['ra']:.6f} {c['dec']:+.6f} mag {c['mag']} SNR {c['snr']}"
        )
