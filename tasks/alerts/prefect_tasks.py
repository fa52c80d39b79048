"""Thin Prefect tasks of the ``alert-follow-up`` flow (the work is in
:mod:`tasks.alerts.followup_run`)."""

from __future__ import annotations

import re

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from infra.events import SEQUENCE_EXECUTED, SEQUENCE_INTERRUPTED, emit
from tasks.alerts.followup_policy import FollowUpRecord, render_markdown
from tasks.controlroom.prefect_tasks import publish_sequence_progress
from tasks.night.execute import PlanWork, SequenceOutcome, SequenceRun
from tasks.night.images import StoredImage
from tasks.night.prefect_tasks import announce_image
from tasks.night.vocabulary import ExecutionResult

_ENDED_EVENTS = {
    ExecutionResult.EXECUTED: SEQUENCE_EXECUTED,
    ExecutionResult.INTERRUPTED: SEQUENCE_INTERRUPTED,
}


def artifact_key(burst_key: str) -> str:
    """The follow-up artifact's key (lowercase letters, digits and dashes)."""
    slug = re.sub(r"[^a-z0-9]+", "-", burst_key.lower()).strip("-")
    return f"alert-follow-up-{slug}"[:100]


@task(name="execute-follow-up-sequence", cache_policy=NO_CACHE, retries=0)
def execute_followup_task(run: SequenceRun, sequence_id: int) -> SequenceOutcome:
    """Run one follow-up sequence at alert priority (never fails for a preemption, a device
    fault or a withdrawal: the sequence ends ``interrupted`` or ``cancelled``)."""
    outcome = run.run(sequence_id)
    if outcome.state in _ENDED_EVENTS:
        emit(
            _ENDED_EVENTS[outcome.state],
            f"pyros.sequence.{sequence_id}",
            {
                "sequence_id": sequence_id,
                "state": outcome.state.value,
                "reason": outcome.reason,
                "images": len(outcome.images),
            },
            source=run.owner,
            clock=run.clock,
        )
    publish_sequence_progress(sequence_id, outcome.state.value)
    return outcome


def announce_followup_image(
    image: StoredImage, plan: PlanWork, instrument: str, sequence_id: int, owner: str
) -> None:
    """A follow-up's frame: ``pyros.image.acquired``, and the control room's current-sequence
    progress (the follow-up is the sequence on the sky now)."""
    announce_image(image, plan, instrument, sequence_id, owner)
    publish_sequence_progress(sequence_id, "follow-up running")


def publish_followup(record: FollowUpRecord) -> None:
    """The follow-up artifact (Markdown, keyed by the burst): the burst, its decision, the
    position found, the light curve so far."""
    create_markdown_artifact(
        key=artifact_key(record.burst_key),
        markdown=render_markdown(record),
        description=f"Alert follow-up {record.burst_key}",
    )
