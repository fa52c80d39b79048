"""Thin Prefect tasks over the scheduler (the work is in :mod:`tasks.scheduling.schedule_rows`).

After saving, the schedule is published as a table artifact under the stable key
:data:`ARTIFACT_KEY`, updated in place (one artifact, the latest plan: the schedules themselves
are in the database), only when a Prefect API is configured.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import TableArtifact

from infra.db import session_scope
from infra.events import prefect_configured
from tasks.controlroom.prefect_tasks import upsert_artifact
from tasks.scheduling.schedule_rows import insert_all_and_save, insert_and_save, plan_and_save
from tasks.scheduling.view import planned_rows, schedule_data

#: Stable key of tonight's schedule in the Prefect UI (DESIGN §8).
ARTIFACT_KEY = "pyros-schedule"


def publish_schedule(schedule_id: int) -> str | None:
    """Publish schedule ``schedule_id`` as a table artifact; returns the key (None without
    Prefect)."""
    if not prefect_configured():
        return None
    with session_scope() as session:
        data = schedule_data(session, schedule_id=schedule_id)
    if data is None:
        return None
    left_out = ", ".join(f"{code}: {n}" for code, n in data["unplanned_by_reason"].items())
    description = (
        f"**Schedule {data['id']}** for night {data['night']} ({data['reason']}): "
        f"{data['planned']} planned, {data['unplanned']} left out"
        + (f" ({left_out})" if left_out else "")
        + f"; planned in {data['planning_seconds']:.3f} s."
    )
    upsert_artifact(
        TableArtifact(key=ARTIFACT_KEY, table=planned_rows(data), description=description)
    )
    return ARTIFACT_KEY


@task(name="plan-night", retries=0)
def plan_night_task(
    reason: str = "scheduled", lost: dict[str, str] | None = None
) -> dict[str, Any]:
    """Plan the rest of tonight from the clock's now, save it, emit
    ``pyros.schedule.updated`` and publish the artifact. ``lost`` instruments (instrument -> its
    loss, #24) leave the sequences that need them out, with the reason.

    Returns
    -------
    dict
        ``schedule_id`` and the plan's summary.
    """
    result = plan_and_save(reason=reason, lost=lost)
    publish_schedule(result["schedule_id"])
    return result


@task(name="insert-sequence", retries=0)
def insert_sequence_task(sequence_id: int) -> dict[str, Any]:
    """Insert one sequence into the current schedule incrementally (an alert at the head).

    Raises
    ------
    tasks.scheduling.schedule_rows.SchedulingError
        Unknown sequence, or one the planner does not plan (the run fails with the reason).
    """
    result = insert_and_save(sequence_id)
    publish_schedule(result["schedule_id"])
    return result


@task(name="insert-sequences", retries=0)
def insert_sequences_task(sequence_ids: list[int], cause: str = "") -> dict[str, Any]:
    """Insert a few sequences one by one into the current schedule (the night's incremental
    re-plan, #18: an alert's, an interrupted one to resume, a new request's), publish the last
    schedule.

    Returns
    -------
    dict
        The last schedule's summary, with the ``inserted`` and ``skipped`` ids (a sequence no
        longer to be planned, e.g. taken by the alert follow-up, is skipped).
    """
    result = insert_all_and_save(sequence_ids, cause=cause)
    if result["schedule_id"] is not None:
        publish_schedule(result["schedule_id"])
    return result
