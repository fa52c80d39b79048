"""``pyros request cancel/images/export``: a request after submission (issue #23).

Registered on the ``pyros request`` group by ``main.py``. The acting user of ``cancel`` is
``--as NAME`` (default: ``$PYROS_USER``, else ``pyros``): an observer cancels only their own
requests, an operator or an admin anyone's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from app.cli.errors import CliError
from app.cli.output import print_json, print_table
from app.cli.peoplecmd import ACTOR_HELP, default_actor, refusals

# The database, the clock and the domain are imported inside the commands (import time): every
# command module is imported by `pyros --help`, and each command answers within the CLI's 2 s.


def cancel(
    request_id: int = typer.Argument(..., help="Request id."),
    reason: str = typer.Option("", "--reason", help="Why (kept with every transition)."),
    actor: str = typer.Option(default_actor, "--as", help=ACTOR_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Cancel a request: its sequences not yet executed become cancelled; one executing now
    stops at the end of its current exposure. Images already taken are kept."""
    from app.cli.common import ready_engine
    from infra.clock import get_clock
    from tasks.requests.lifecycle import announce_cancel, cancel_request

    clock = get_clock()
    with refusals() as session:
        result = cancel_request(session, request_id, actor, reason, clock.now())
    announce_cancel(result, actor, clock, ready_engine())
    if json_output:
        print_json({"ok": True, **result.as_dict()})
        return
    typer.echo(
        f"request {request_id} cancelled: {len(result.cancelled)} sequence(s) cancelled"
        + (
            f", {len(result.executing)} executing (stops after the current exposure)"
            if result.executing
            else ""
        )
        + (f", {len(result.untouched)} already final" if result.untouched else "")
    )


def images(
    request_id: int = typer.Argument(..., help="Request id."),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List a request's images: id, time, filter, exposure, file, calibrated file, NRT quality."""
    from tasks.requests.lifecycle import request_images

    with refusals() as session:
        rows = request_images(session, request_id)
    if json_output:
        print_json(rows)
        return
    print_table(
        f"Images of request {request_id}",
        ["image", "time (UTC)", "camera", "filter", "exp s", "file", "calibrated", "NRT"],
        [
            [
                r["id"],
                f"{r['acquired_at']:%Y-%m-%d %H:%M:%S}",
                r["instrument"],
                r["filter"],
                f"{r['exposure_s']:g}",
                r["file"],
                r["calibrated_file"] or "-",
                _nrt(r["nrt"]),
            ]
            for r in rows
        ],
    )


def _nrt(quality: dict[str, Any] | None) -> str:
    if quality is None:
        return "-"
    if quality["status"] != "done":
        return f"{quality['status']} {quality['reason']}".strip()
    fwhm, limit = quality["fwhm_arcsec"], quality["limiting_mag"]
    return "done" + (f' fwhm {fwhm:.2f}"' if fwhm else "") + (f" lim {limit:.2f}" if limit else "")


def export(
    request_id: int = typer.Argument(..., help="Request id."),
    directory: Path = typer.Argument(..., help="New folder to write (must not exist)."),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Export a request's calibrated frames, with provenance headers and a manifest.json."""
    from app.cli.common import ready_engine
    from infra.clock import get_clock
    from tasks.calibration.calibrator import ScienceCalibrator
    from tasks.calibration.science import write_calibrated
    from tasks.requests.export import export_request
    from tasks.requests.people import AccessError

    engine = ready_engine()
    calibrator = ScienceCalibrator(engine=engine)
    try:
        result = export_request(
            engine,
            request_id,
            directory,
            get_clock().now(),
            calibrate=lambda path: calibrator.calibrate(path, output=False),
            write=write_calibrated,
        )
    except AccessError as refused:
        raise CliError(str(refused)) from None
    if json_output:
        print_json({"ok": True, **result.as_dict()})
        return
    typer.echo(
        f"request {request_id}: {result.files} calibrated frame(s) in {result.directory}"
        + (f", {result.skipped} not calibrated (see manifest.json)" if result.skipped else "")
    )
