"""``pyros demo``: what ``make run`` runs until the simulated night exists."""

from __future__ import annotations

from pathlib import Path

import typer

from app.cli.common import ready_engine
from app.cli.requestcmd import list_requests
from app.cli.schedulecmd import plan, show
from infra.settings import load_settings, redact_url

# Request ingestion is imported inside the command: every command module is imported by
# `pyros --help`, and each command answers within the CLI's 2 s.

SAMPLE_REQUESTS = Path(__file__).resolve().parents[2] / "simulators" / "data" / "requests"


def demo() -> None:
    """Ingest the bundled sample requests and show what was stored (the foundation's job)."""
    from tasks.requests.ingest import ingest_request_file

    engine = ready_engine()
    files = sorted(SAMPLE_REQUESTS.glob("*.xml"))
    typer.echo(
        f"PyROS on {redact_url(load_settings().database_url)}: ingesting {len(files)} "
        f"sample request(s) from {SAMPLE_REQUESTS}"
    )
    for file in files:
        result = ingest_request_file(file, engine=engine, again=True)
        typer.echo(
            f"  request {result.request_id}: {len(result.sequence_ids)} sequence(s) "
            f"from {file.name}"
        )
    list_requests(limit=10, json_output=False)
    plan(reason="make run", json_output=False)
    show(night=None, schedule_id=None, all_entries=False, json_output=False)
    typer.echo(
        "The simulated night (devices, simulators, monitor, Prefect flows) is not built yet: "
        "this run exercised configuration, database, journal, request ingestion and the "
        "scheduler."
    )
