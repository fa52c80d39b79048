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


def test_the_sweep_finds_the_runs_that_went_on_past_the_night_s_end(prefect_harness):
    # A run that ended before the night's end is not looked at again; one still running, or
    # ended after it, is (CI, 2026-12-06: frames of a late block without rows).
    from datetime import UTC, datetime

    from prefect.client.orchestration import get_client
    from prefect.states import Completed

    from app.cli.nightsim import _runs_alive_at

    deployment = f"execute-night-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        ended_before = _running_deployment_run(client, deployment)
        client.set_flow_run_state(ended_before, Completed(), force=True)
        since = datetime.now(UTC)
        still_running = _running_deployment_run(client, deployment)
        ended_after = _running_deployment_run(client, deployment)
        client.set_flow_run_state(ended_after, Completed(), force=True)
        deployment_id = client.read_flow_run(still_running).deployment_id
        never_started = client.create_flow_run_from_deployment(deployment_id).id

        alive = set(_runs_alive_at([deployment], since))
    assert alive == {still_running, ended_after}, (ended_before, never_started)


def _night_with_a_frame_waiting(engine, tmp_path):
    """A night with one frame without its analysis, the ``nrt-analysis`` deployment on the
    session's Prefect server with none of its runs left alive; returns the night's plan."""
    from prefect.client.orchestration import get_client

    from app.cli import nightsim
    from infra.config import get_config
    from tests.support.night_data import build_night

    built = build_night(engine, get_config(), tmp_path / "frames")
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("nrt-analysis")
        client.create_deployment(flow_id=flow_id, name="nrt-analysis")
    nightsim._stop_the_night(["nrt-analysis"])  # the session server's earlier runs: not ours
    return nightsim.SimulationPlan(
        night=built.label, start=built.span_end, end=built.span_end, speed=100.0,
        site_file=tmp_path / "site.toml", clock_spec="system",
    )  # fmt: skip


def _analyse_the_frames_waiting(engine) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from infra.db import session_scope
    from infra.db.models import Image, NrtAnalysis

    with session_scope(engine) as session:
        ended = {
            row.image_id
            for row in session.scalars(select(NrtAnalysis))
            if row.status in ("done", "failed")
        }
        for image in session.scalars(select(Image).where(Image.image_type == "light")):
            if image.id not in ended:
                now = datetime.now(UTC)
                session.add(
                    NrtAnalysis(image_id=image.id, status="done", started_at=now, finished_at=now)
                )


def _drain_runs_since(begun):
    """The ``nrt-analysis`` runs created since ``begun`` as the wait creates them (an idle
    timeout, no ``until``: the session's server may hold other tests' runs of a block)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["nrt-analysis"])),
            limit=200,
        )
    return [
        run
        for run in runs
        if run.created
        and run.created >= begun
        and "idle_timeout_s" in run.parameters
        and "until" not in run.parameters
    ]


def test_the_analysis_wait_starts_an_analysis_run_when_none_is_left(
    prefect_harness, engine, tmp_path, monkeypatch
):
    # A frame waits and no analysis run is left (a follow-up's consumer cut off mid-analysis,
    # the block's run ended at its block's end): the wait starts one, long enough to take the
    # abandoned claim over, once; it is stopped when the wait ends.
    from datetime import UTC, datetime

    from prefect.client.schemas.objects import StateType

    from app.cli import nightsim
    from app.cli.nightprogress import NightDisplay
    from tasks.nrt.analysis_rows import CLAIM_LEASE_WALL_S

    plan = _night_with_a_frame_waiting(engine, tmp_path)
    monkeypatch.setattr(nightsim, "ANALYSIS_WAIT_WALL_S", 5.0)
    begun = datetime.now(UTC)

    nightsim._wait_for_analysis(plan, engine, NightDisplay(to_stderr=True), cut_short=False)

    started = _drain_runs_since(begun)
    assert len(started) == 1, started  # once, not at every look
    assert started[0].parameters["idle_timeout_s"] > CLAIM_LEASE_WALL_S
    assert started[0].state.type == StateType.CANCELLED  # the wait's end stops it


def test_the_analysis_wait_starts_one_when_the_run_shown_running_analyses_nothing(
    prefect_harness, engine, tmp_path, monkeypatch
):
    # A killed worker's analysis run stays Running in Prefect: alive to the server, dead in
    # fact. Once no frame was analysed for a lease and a drain's idle time, the wait starts one.
    from datetime import UTC, datetime

    from prefect.client.orchestration import get_client
    from prefect.states import Running

    from app.cli import nightsim
    from app.cli.nightprogress import NightDisplay
    from tasks.nrt import analysis_rows

    plan = _night_with_a_frame_waiting(engine, tmp_path)
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("nrt-analysis/nrt-analysis")
        dead = client.create_flow_run_from_deployment(deployment.id)
        client.set_flow_run_state(dead.id, Running(), force=True)
    monkeypatch.setattr(analysis_rows, "CLAIM_LEASE_WALL_S", 1.0)
    monkeypatch.setattr(nightsim, "DRAIN_IDLE_WALL_S", 1.0)
    monkeypatch.setattr(nightsim, "ANALYSIS_WAIT_WALL_S", 120.0)
    start_run = nightsim._run_now

    def start_and_analyse(name, parameters, timeout_s=0):
        run = start_run(name, parameters, timeout_s)
        _analyse_the_frames_waiting(engine)  # what the started run does (no worker here)
        return run

    monkeypatch.setattr(nightsim, "_run_now", start_and_analyse)
    begun = datetime.now(UTC)

    nightsim._wait_for_analysis(plan, engine, NightDisplay(to_stderr=True), cut_short=False)

    started = [run for run in _drain_runs_since(begun) if run.id != dead.id]
    assert started, "the dead run kept the wait from starting one"
    assert all(run.parameters["idle_timeout_s"] == 2.0 for run in started)
