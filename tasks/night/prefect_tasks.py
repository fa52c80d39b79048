"""Thin Prefect tasks over the night's work (the work itself is in the sibling modules)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from infra.clock import get_clock
from infra.config import get_config
from infra.db import session_scope
from infra.events import IMAGE_ACQUIRED, SEQUENCE_EXECUTED, SEQUENCE_INTERRUPTED, emit
from infra.settings import load_settings
from tasks.controlroom.prefect_tasks import publish_sequence_progress
from tasks.environment.observatory_state import request_dome
from tasks.night.devices import NightDevices
from tasks.night.execute import PlanWork, SequenceRun
from tasks.night.images import StoredImage
from tasks.night.report import NightReport, night_report
from tasks.night.report_render import render_markdown, write_report_files
from tasks.night.vocabulary import ExecutionResult
from tasks.requests.prefect_tasks import publish_request_of_sequence

#: The event announcing each way an execution can end (a refused lease announces nothing).
_ENDED_EVENTS = {
    ExecutionResult.EXECUTED: SEQUENCE_EXECUTED,
    ExecutionResult.INTERRUPTED: SEQUENCE_INTERRUPTED,
}


#: Test switch: wall seconds of sleep before each sequence, an orchestration deliberately made
#: slow (the night benchmark's figures must then miss their goals; issue 25).
SEQUENCE_DELAY_ENV = "PYROS_TEST_SEQUENCE_DELAY_S"


def _slow_down_for_tests() -> None:
    delay = float(os.environ.get(SEQUENCE_DELAY_ENV) or 0.0)
    if delay > 0:
        time.sleep(delay)


def announce_image(
    image: StoredImage, plan: PlanWork, instrument: str, sequence_id: int, owner: str
) -> None:
    """``pyros.image.acquired`` for a frame of ``sequence_id`` (a night's or a follow-up's)."""
    emit(
        IMAGE_ACQUIRED,
        f"pyros.image.{image.image_id}",
        {
            "image_id": image.image_id,
            "sequence_id": sequence_id,
            "plan_id": plan.plan_id,
            "instrument": instrument,
            "filter": plan.filter,
            "path": image.path,
            "adopted": image.adopted,
        },
        source=owner,
        clock=get_clock(),
    )


@task(name="execute-sequence", cache_policy=NO_CACHE, retries=0)
def execute_sequence_task(devices: NightDevices, sequence_id: int, owner: str) -> dict[str, Any]:
    """Run one sequence under the routine lease; every image is announced as it is stored.

    Never fails for a preemption or a device fault: the sequence ends ``interrupted`` with the
    reason (the run stays Completed, DESIGN §2).
    """
    config, clock = get_config(), get_clock()

    def announce(image: StoredImage, plan: PlanWork, instrument: str) -> None:
        announce_image(image, plan, instrument, sequence_id, owner)
        publish_sequence_progress(sequence_id)

    run = SequenceRun(
        None,
        devices.telescope,
        owner,
        clock,
        load_settings().frames_dir,
        config.site.longitude_deg,
        on_image=announce,
    )
    _slow_down_for_tests()
    outcome = run.run(sequence_id)
    result = {
        "sequence_id": sequence_id,
        "state": outcome.state.value,
        "reason": outcome.reason,
        "images": len(outcome.images),
        "device_wall_s": outcome.device_wall_s,
    }
    if outcome.state in _ENDED_EVENTS:
        emit(
            _ENDED_EVENTS[outcome.state],
            f"pyros.sequence.{sequence_id}",
            dict(result),
            source=owner,
            clock=clock,
        )
    # The request's artifact shows the sequence's end and the images that arrived (issue #23).
    publish_request_of_sequence(sequence_id)
    publish_sequence_progress(sequence_id, outcome.state.value)
    return result


@task(name="request-dome", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def request_dome_task(state: str, reason: str, by: str) -> str:
    """Ask the environment monitor to open or close the dome (it alone moves it)."""
    with session_scope() as session:
        request_dome(session, state, by, get_clock().now(), reason)
    return f"dome requested {state}: {reason}"


def reports_dir() -> Path:
    """Where night reports are written: ``$PYROS_HOME/reports``."""
    return load_settings().home / "reports"


#: Key of the night report's Markdown artifact.
REPORT_ARTIFACT_KEY = "pyros-night-report"


def publish_night_report(label: str, *, artifact: bool = True) -> tuple[NightReport, Path]:
    """Compute night ``label``'s report (:func:`night_report`, the one computation), write
    ``$PYROS_HOME/reports/<night>.md`` and ``.json`` and, with ``artifact``, publish the same
    Markdown as the artifact ``pyros-night-report`` (needs a Prefect API: inside a flow run, or
    with ``PREFECT_API_URL`` set). Returns the report and the Markdown file's path."""
    with session_scope() as session:
        report = night_report(session, label, get_config())
    markdown_path, _ = write_report_files(report, reports_dir())
    if artifact:
        create_markdown_artifact(
            key=REPORT_ARTIFACT_KEY,
            markdown=render_markdown(report),
            description=f"Night report {label}",
        )
    return report, markdown_path


@task(name="night-report", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def night_report_task(label: str) -> dict[str, Any]:
    """Write the night report (markdown artifact ``pyros-night-report`` and the files
    ``$PYROS_HOME/reports/<night>.md`` and ``.json``); returns its summary."""
    report, markdown_path = publish_night_report(label)
    return {**report.summary, "report_path": str(markdown_path)}
