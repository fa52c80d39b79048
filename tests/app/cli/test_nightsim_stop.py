"""A night cut short waits for its cancelled blocks to end before the night's end runs (a
cancelled block goes on exposing until its process is killed), on the session's Prefect test
server."""

from __future__ import annotations

import uuid

import pytest

pytestmark = [pytest.mark.prefect, pytest.mark.xdist_group("prefect")]


def _running_deployment_run(client, deployment: str):
    from prefect.states import Running

    flow_id = client.create_flow_from_name(f"flow-{deployment}")
    deployment_id = client.create_deployment(flow_id=flow_id, name=deployment)
    run = client.create_flow_run_from_deployment(deployment_id)
    client.set_flow_run_state(run.id, Running(), force=True)
    return run.id


def test_a_cancelled_block_is_waited_for_until_its_run_has_ended(prefect_harness):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled

    from app.cli.nightsim import _stop_the_night, _wait_until_stopped

    deployment = f"execute-night-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        run_id = _running_deployment_run(client, deployment)

        assert _stop_the_night([deployment]) == [run_id]
        assert client.read_flow_run(run_id).state.type == StateType.CANCELLING
        # Nothing kills this run's process: still not ended when the wait gives up.
        assert _wait_until_stopped([run_id], within_wall_s=1.0) == [run_id]

        client.set_flow_run_state(run_id, Cancelled(), force=True)
        assert _wait_until_stopped([run_id], within_wall_s=5.0) == []


def test_scheduled_runs_are_cancelled_without_being_waited_for(prefect_harness):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    from app.cli.nightsim import _stop_the_night

    deployment = f"execute-night-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(f"flow-{deployment}")
        deployment_id = client.create_deployment(flow_id=flow_id, name=deployment)
        run = client.create_flow_run_from_deployment(deployment_id)

        assert _stop_the_night([deployment]) == []
        assert client.read_flow_run(run.id).state.type == StateType.CANCELLED


def test_a_night_cut_short_stops_a_running_follow_up_with_the_reason(prefect_harness):
    # A follow-up left running past the cut had its sequence interrupted by the night's close
    # (the sequences left executing) and failed on finishing it (bench alerts, 2026-12-06).
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    from app.cli.nightsim import CUT_SHORT_REASON, _stop_cut_short

    with get_client(sync_client=True) as client:
        follow_up = _running_deployment_run(client, "alert-follow-up")
        analysis = _running_deployment_run(client, "nrt-analysis")

        assert follow_up in _stop_cut_short()
        state = client.read_flow_run(follow_up).state
        assert state.type == StateType.CANCELLING and state.message == CUT_SHORT_REASON
        # The analysis goes on with the frames taken.
        assert client.read_flow_run(analysis).state.type == StateType.RUNNING
