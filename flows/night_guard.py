"""What a block of the night started by an event asks Prefect: the other blocks running or about
to, and the blocks already scheduled (tasks/night/resume.py decides with the answers)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType

from infra.clock import parse_instant
from tasks.night.windows import EXECUTE_NIGHT


def _blocks(states: list[StateType]) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[EXECUTE_NIGHT])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states))
            ),
        )


def other_blocks_running(this_run: UUID | str | None) -> list[str]:
    """Names of the ``execute-night`` runs running or pending, other than ``this_run``."""
    runs = _blocks([StateType.RUNNING, StateType.PENDING])
    return [run.name for run in runs if str(run.id) != str(this_run)]


def scheduled_block_starts(night: str) -> list[datetime]:
    """Simulated starts (``block_start``) of tonight's ``execute-night`` runs still scheduled."""
    starts = []
    for run in _blocks([StateType.SCHEDULED]):
        parameters = run.parameters or {}
        if parameters.get("night") == night and parameters.get("block_start"):
            starts.append(parse_instant(str(parameters["block_start"])))
    return starts
