"""The Prefect tasks on a real Prefect server (the session's test harness): the schedule is saved
and published as a table artifact under its stable key, updated in place."""

from __future__ import annotations

import json

import pytest

from tasks.requests.ingest import ingest_request_bytes
from tests.support.requests import request_xml, sequence_xml

pytestmark = [pytest.mark.prefect, pytest.mark.xdist_group("prefect")]


def test_plan_night_task_publishes_the_schedule_artifact(engine, sim_clock, prefect_harness):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        TaskRunFilter,
    )
    from prefect.client.schemas.sorting import ArtifactSort

    from tasks.scheduling.prefect_tasks import ARTIFACT_KEY, insert_sequence_task, plan_night_task

    def submit(name: str) -> int:
        xml = request_xml([sequence_xml(name, jd1="0", jd2="30000")]).encode()
        return ingest_request_bytes(xml, "t").sequence_ids[0]

    submit("a")

    @flow(name="plan-test")
    def planning() -> tuple[dict, dict]:
        planned = plan_night_task("test")
        return planned, insert_sequence_task(submit("b"))

    planned, inserted = planning()
    assert planned["planned"] == 1 and inserted["planned"] == 2

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY])),
                flow_run_filter=FlowRunFilter(),
                task_run_filter=TaskRunFilter(),
                sort=ArtifactSort.CREATED_DESC,
                limit=50,
            )

    import asyncio

    found = asyncio.run(artifacts())
    assert [a.type for a in found] == ["table"]  # the re-plan updated it in place
    latest = found[0]
    assert f"Schedule {inserted['schedule_id']}" in latest.description
    rows = json.loads(latest.data) if isinstance(latest.data, str) else latest.data
    assert [row["name"] for row in rows] == ["a", "b"]
    # What the control room asks of tonight's schedule: planned start, sequence, target,
    # program, priority, state.
    assert {"start (UTC)", "sequence", "target", "program", "priority", "state"} <= set(rows[0])
    assert all(row["target"] and row["program"] for row in rows), rows
