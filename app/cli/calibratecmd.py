"""``pyros calibrate``: build calibration masters from frames, list them, calibrate a frame."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer

from app.cli.common import ready_engine
from app.cli.errors import EXIT_BAD_INPUT, CliError
from app.cli.groups import command_group
from app.cli.output import print_json, print_table

# The database, the configuration and the domain are imported inside the commands: every command
# module is imported by `pyros --help`, and each command answers within the CLI's 2 s.

app = command_group("Calibration masters (bias, dark, flat) and frame calibration.")

KIND_CHOICES = ("bias", "dark", "flat")


@app.command()
def build(
    frames: list[Path] = typer.Argument(..., help="Calibration frames (FITS)."),
    camera: str = typer.Option(..., "--camera", help="Instrument name, e.g. 'Visible camera'."),
    kind: str = typer.Option(..., "--type", help="Master type: bias, dark or flat."),
    filter_name: str | None = typer.Option(
        None, "--filter", help="Flats: the filter (frames of other filters are rejected)."
    ),
    flat_source: str | None = typer.Option(
        None, "--flat-source", help="Flats: twilight or dome (default: the frames' FLATTYPE)."
    ),
    night: str | None = typer.Option(
        None, "--night", help="Night label YYYY-MM-DD (default: frames')."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Build, write and record a master; rejected frames are listed with their reasons.

    Exit 0 when the master was built, 2 when it was not (the failure is recorded, the previous
    master stays in use).
    """
    if kind not in KIND_CHOICES:
        raise CliError(f"--type: {kind!r} is not one of {', '.join(KIND_CHOICES)}")
    if flat_source not in (None, "twilight", "dome"):
        raise CliError(f"--flat-source: {flat_source!r} is not twilight or dome")
    if night is not None:
        try:
            date.fromisoformat(night)
        except ValueError:
            raise CliError(f"--night: {night!r} is not a date YYYY-MM-DD") from None
    from app.cli.progressbar import progress_bar
    from tasks.calibration.combine import reporting_progress
    from tasks.calibration.service import build_and_record

    engine = ready_engine()
    try:
        with (
            progress_bar(f"master {kind}: combining {len(frames)} frame(s) (bands)") as advance,
            reporting_progress(advance),
        ):
            result = build_and_record(
                kind, frames, camera=camera, filter_name=filter_name, flat_source=flat_source,
                night=night, engine=engine,
            )  # fmt: skip
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if json_output:
        print_json({"ok": result["status"] == "good", **result})
    else:
        for item in result["rejected"]:
            typer.echo(f"rejected: {item['reason']}", err=True)
        if result["status"] == "good":
            typer.echo(
                f"master {kind} {result['id']} built from {result['n_frames']} frame(s) "
                f"({len(result['rejected'])} rejected) for night {result['night']}: "
                f"{result['path']}"
            )
    if result["status"] != "good":
        if not json_output:
            typer.echo(f"pyros: master {kind} not built (recorded as {result['id']}): "
                       f"{result['reason']}", err=True)  # fmt: skip
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command("list")
def list_masters(
    camera: str | None = typer.Option(None, "--camera", help="Only this camera."),
    kind: str | None = typer.Option(None, "--type", help="Only this type (bias, dark, flat)."),
    status: str | None = typer.Option(None, "--status", help="Only good or failed."),
    limit: int = typer.Option(50, "--limit", min=1, help="Most recent N masters."),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List the most recent masters (good and failed) with their night and quality."""
    from infra.db import session_scope
    from tasks.calibration.master_registry import list_masters as listing

    with session_scope(ready_engine()) as session:
        items = listing(session, camera=camera, kind=kind, status=status, limit=limit)
    if json_output:
        print_json(items)
        return

    def master(item: dict[str, Any]) -> str:
        words = [item["type"], item["filter"], item["flat_source"]]
        if item["type"] == "dark":
            words.append(f"{item['exposure_s']:g}s")
        return " ".join(w for w in words if w)

    print_table(
        "Calibration masters",
        ["id", "camera", "master", "night", "status", "frames", "file or reason"],
        [
            [i["id"], i["camera"], master(i), i["night"], i["status"],
             f"{i['n_frames']} (+{i['n_rejected']} rejected)",
             Path(i["path"]).name if i["status"] == "good" else i["reason"]]
            for i in items
        ],
    )  # fmt: skip


@app.command()
def frame(
    raw: Path = typer.Argument(..., help="Raw frame (FITS) to calibrate."),
    output: Path | None = typer.Option(
        None, "--output", help="Where to write it (default: <frame>.cal.fits beside it)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Calibrate one frame with the masters of its night (bias, dark, flat, with provenance)."""
    from tasks.calibration.calibrator import ScienceCalibrator
    from tasks.calibration.science import CalibrationError

    calibrator = ScienceCalibrator(engine=ready_engine())
    try:
        result = calibrator.calibrate(raw, output or True)
    except CalibrationError as exc:
        raise CliError(str(exc)) from None
    if json_output:
        print_json({"ok": True, **result.as_dict()})
        return
    for step, reason in result.missing.items():
        typer.echo(f"skipped {step}: {reason}", err=True)
    applied = ", ".join(f"{s} {u['id']} (age {u['age_nights']})" for s, u in result.used.items())
    typer.echo(f"{result.output_path}: {applied or 'nothing applied'}")
