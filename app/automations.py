"""The automations PyROS declares in Prefect (docs/events.md), as pure functions.

:func:`declared_automations` returns the specifications from the ids of the deployments they act
on; ``app.prefect_bootstrap`` applies them idempotently on every ``pyros up``: each is matched by
its name (all start with :data:`PREFIX`), updated in place, its duplicates deleted, and any
``pyros:`` automation no longer declared is removed. Automations an operator creates under
other names are never touched.

Every trigger on a PyROS event matches only the modes of a running observatory
(:data:`LIVE_MODES`: the ``pyros.mode`` resource label is ``live`` or ``sim``), so a replayed
night (mode ``replay``) never fires one. Triggers on Prefect's own flow-run events are scoped to
this stack's deployments by id (replays run no deployment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from prefect.client.schemas.objects import StateType
from prefect.events.actions import ActionTypesOrUnknown, ChangeFlowRunState, RunDeployment
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

from infra.events import (
    DEVICE_BACK,
    DEVICE_LOST,
    DOME_STUCK,
    WATCHER_HEARTBEAT,
    WEATHER_SAFE,
    WEATHER_UNSAFE,
)
from infra.settings import RunMode

#: Every automation PyROS owns is named with this prefix (and only those are removed).
PREFIX = "pyros: "
#: ``pyros.mode`` values the triggers match: never ``replay``.
LIVE_MODES = tuple(mode.value for mode in RunMode if mode != RunMode.REPLAY)

OPERATOR_NOTICE = "operator-notice"
RESTART_WATCHER = "restart-watcher"
EXECUTE_NIGHT = "execute-night"
#: Deployments the declared automations act on or watch (resolved to ids by the bootstrap).
DEPLOYMENTS = (OPERATOR_NOTICE, RESTART_WATCHER, EXECUTE_NIGHT)

#: Prefect's flow-run heartbeat, emitted by the flow's own process (``PREFECT_FLOWS_HEARTBEAT_
#: FREQUENCY``, set by ``pyros up`` to :data:`FLOW_HEARTBEAT_S`).
FLOW_HEARTBEAT = "prefect.flow-run.heartbeat"
FLOW_HEARTBEAT_S = 30
#: A night block silent this long (wall) is marked Crashed (at least two heartbeats missed).
FLOW_SILENCE_S = 75
FLOW_CRASHED = "prefect.flow-run.Crashed"
#: The events that end a flow run's heartbeats for a good reason.
FLOW_ENDINGS = tuple(
    f"prefect.flow-run.{state}"
    for state in ("Completed", "Failed", "Cancelled", "Crashed", "Paused", "Suspended")
)


@dataclass(frozen=True)
class HeartbeatWatcher:
    """A supervised watcher whose ``pyros.watcher.heartbeat`` events are watched.

    Attributes
    ----------
    name : str
        Its process name in the supervisor, which is also its heartbeat's resource
        (``pyros.watcher.<name>``) and the ``watcher`` of the heartbeat's payload.
    title : str
        How the operator notice names it.
    silence_s : float
        Wall seconds without a heartbeat before the automation fires (at least 10, Prefect's
        floor for proactive triggers; the watchers beat every 5 s: three missed beats).
    """

    name: str
    title: str
    silence_s: float = 15.0

    @property
    def resource_id(self) -> str:
        """The heartbeat's ``prefect.resource.id``."""
        return f"pyros.watcher.{self.name}"


#: The watchers whose silence is noticed and answered by a restart. A new watcher needs only a
#: line here (and to emit ``pyros.watcher.heartbeat`` on ``pyros.watcher.<its process name>``);
#: one that never beat (not part of this stack) never fires: the trigger starts after a first
#: heartbeat.
HEARTBEAT_WATCHERS = (
    HeartbeatWatcher("environment-monitor", "the environment monitor"),
    HeartbeatWatcher("alert-listener", "the alert listener"),
)


def _deployment(deployments: Mapping[str, UUID], name: str) -> UUID:
    try:
        return deployments[name]
    except KeyError:
        raise KeyError(
            f"deployment {name!r} is not applied (prefect.yaml); the automations need it"
        ) from None


def _run(deployment_id: UUID, parameters: dict[str, object]) -> RunDeployment:
    return RunDeployment(
        source="selected", deployment_id=deployment_id, parameters=parameters, job_variables=None
    )


def _notice(
    deployments: Mapping[str, UUID], subject: str, message: str, source: str, severity: str
) -> RunDeployment:
    """Run ``operator-notice`` with this notice (``source`` after ``automation:``)."""
    return _run(
        _deployment(deployments, OPERATOR_NOTICE),
        {
            "subject": subject,
            "message": message,
            "source": f"automation:{source}",
            "severity": severity,
        },
    )


def watcher_silent(watcher: HeartbeatWatcher, deployments: Mapping[str, UUID]) -> AutomationCore:
    """No heartbeat from ``watcher`` for ``silence_s`` after a first one: notify the operator
    and ask the supervisor to restart it (``restart-watcher``). Fires once per silence."""
    seconds = f"{watcher.silence_s:g}"
    trigger = EventTrigger(
        after={WATCHER_HEARTBEAT},
        expect={WATCHER_HEARTBEAT},
        match=ResourceSpecification(
            {"prefect.resource.id": watcher.resource_id, "pyros.mode": list(LIVE_MODES)}
        ),
        # Per resource, so that buckets exist only after a first heartbeat: without it Prefect
        # keeps a bucket open from the start and a watcher never run would fire every window.
        for_each={"prefect.resource.id"},
        posture=Posture.Proactive,
        threshold=1,
        within=timedelta(seconds=watcher.silence_s),
    )
    actions: list[ActionTypesOrUnknown] = [
        _notice(
            deployments,
            f"{watcher.name} silent",
            (
                f"no heartbeat from {watcher.title} for {seconds} s (last at simulated "
                "{{ event.payload.sim_time }}); restart requested through the supervisor"
            ),
            f"{watcher.name}-silent",
            "error",
        ),
        _run(
            _deployment(deployments, RESTART_WATCHER),
            {"name": watcher.name, "reason": f"no heartbeat for {seconds} s"},
        ),
    ]
    return AutomationCore(
        name=f"{PREFIX}{watcher.name} silent",
        description=(
            f"No {WATCHER_HEARTBEAT} from {watcher.title} for {seconds} s wall: operator notice "
            "and restart through the supervisor."
        ),
        trigger=trigger,
        actions=actions,
    )


def _execute_night_related(deployments: Mapping[str, UUID]) -> ResourceSpecification:
    deployment_id = _deployment(deployments, EXECUTE_NIGHT)
    return ResourceSpecification(
        {
            "prefect.resource.role": "deployment",
            "prefect.resource.id": f"prefect.deployment.{deployment_id}",
        }
    )


def block_silent(deployments: Mapping[str, UUID]) -> AutomationCore:
    """A night block whose process stopped beating (worker or machine gone) is marked Crashed."""
    return AutomationCore(
        name=f"{PREFIX}night block silent",
        description=(
            f"An execute-night run with no {FLOW_HEARTBEAT} for {FLOW_SILENCE_S} s wall and no "
            "final state is marked Crashed (its process is gone)."
        ),
        trigger=EventTrigger(
            after={FLOW_HEARTBEAT},
            expect={FLOW_HEARTBEAT, *FLOW_ENDINGS},
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            match_related=_execute_night_related(deployments),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=FLOW_SILENCE_S),
        ),
        actions=[
            ChangeFlowRunState(
                name=None,
                force=False,
                state=StateType.CRASHED,
                message=f"no heartbeat for {FLOW_SILENCE_S} s: its process is gone",
            )
        ],
    )


def block_crashed(deployments: Mapping[str, UUID]) -> AutomationCore:
    """A night block that ended Crashed is followed by a new block (which reconciles the
    sequences it left executing and goes on) and an operator notice."""
    return AutomationCore(
        name=f"{PREFIX}night block crashed",
        description=(
            "An execute-night run entered Crashed: a new block starts now (it reconciles and "
            "goes on) and the operator is told."
        ),
        trigger=EventTrigger(
            expect={FLOW_CRASHED},
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            match_related=_execute_night_related(deployments),
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            _run(_deployment(deployments, EXECUTE_NIGHT), {"trigger": "a crashed block"}),
            _notice(
                deployments,
                "night block crashed",
                (
                    "{{ event.resource.id }} crashed; a new execute-night block was started "
                    "(it reconciles what was left executing)"
                ),
                "night-block-crashed",
                "error",
            ),
        ],
    )


def _site_event(event: str) -> EventTrigger:
    return EventTrigger(
        expect={event},
        match=ResourceSpecification(
            {"prefect.resource.id": "pyros.site.*", "pyros.mode": list(LIVE_MODES)}
        ),
        posture=Posture.Reactive,
        threshold=1,
    )


def weather_unsafe(deployments: Mapping[str, UUID]) -> AutomationCore:
    """The monitor judged the weather unsafe (it has closed and parked already): the operator
    is told. The running block ends by itself at its next look (docs/rulings.md, "Weather")."""
    return AutomationCore(
        name=f"{PREFIX}weather unsafe",
        description=(
            f"{WEATHER_UNSAFE}: operator notice; the night's block ends by itself and "
            f"{WEATHER_SAFE} starts the next."
        ),
        trigger=_site_event(WEATHER_UNSAFE),
        actions=[
            _notice(
                deployments,
                "weather unsafe",
                (
                    "unsafe since {{ event.payload.sim_time }} (simulated): "
                    "{{ event.payload.reason }}; the dome is closed, the night waits for "
                    f"{WEATHER_SAFE}"
                ),
                "weather-unsafe",
                "warning",
            )
        ],
    )


def weather_safe(deployments: Mapping[str, UUID]) -> AutomationCore:
    """Safe again (after the monitor's hold time): a block of the night starts now. It runs
    only in the dark night and when no block runs (``execute-night`` with ``trigger``)."""
    return AutomationCore(
        name=f"{PREFIX}weather safe",
        description=(
            f"{WEATHER_SAFE}: execute-night starts a block now (it refuses outside the dark "
            "night or when a block already runs)."
        ),
        trigger=_site_event(WEATHER_SAFE),
        actions=[
            _run(
                _deployment(deployments, EXECUTE_NIGHT),
                # The block starts at the event's simulated instant (a block like the others).
                {"trigger": "weather safe", "block_start": "{{ event.payload.sim_time }}"},
            )
        ],
    )


def device_notice(event: str, deployments: Mapping[str, UUID]) -> AutomationCore:
    """A device gateway lost (or found again) its device: the operator is told (the night's own
    reaction goes through the gateways' health, read by the night policy)."""
    lost = event == DEVICE_LOST
    word = "lost" if lost else "back"
    return AutomationCore(
        name=f"{PREFIX}device {word}",
        description=f"{event}: operator notice naming the device and the reason.",
        trigger=EventTrigger(
            expect={event},
            match=ResourceSpecification(
                {"prefect.resource.id": "pyros.device.*", "pyros.mode": list(LIVE_MODES)}
            ),
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            _notice(
                deployments,
                f"device {word}",
                (
                    "{{ event.payload.device }} ({{ event.payload.kind }}) "
                    + word
                    + (": {{ event.payload.reason }}" if lost else "")
                ),
                f"device-{word}",
                "error" if lost else "info",
            )
        ],
    )


def dome_stuck(deployments: Mapping[str, UUID]) -> AutomationCore:
    """The dome did not close in time (the monitor has parked the mount): the operator is
    called, as an emergency — only a person can close it now."""
    return AutomationCore(
        name=f"{PREFIX}dome stuck",
        description=f"{DOME_STUCK}: emergency notice to the operator (the mount is parked).",
        trigger=_site_event(DOME_STUCK),
        actions=[
            _notice(
                deployments,
                "EMERGENCY: dome stuck",
                (
                    "{{ event.payload.reason }} at {{ event.payload.sim_time }} (simulated); "
                    "the mount is parked; close the dome by hand"
                ),
                "dome-stuck",
                "emergency",
            )
        ],
    )


def declared_automations(deployments: Mapping[str, UUID]) -> list[AutomationCore]:
    """Every automation PyROS declares, from the ids of the deployments in :data:`DEPLOYMENTS`.

    Parameters
    ----------
    deployments : mapping
        Deployment name -> id (as applied from ``prefect.yaml``).

    Returns
    -------
    list of AutomationCore
        Unique names, all starting with :data:`PREFIX`.

    Raises
    ------
    KeyError
        Naming a deployment the automations need that is not in ``deployments``.
    """
    automations = [watcher_silent(w, deployments) for w in HEARTBEAT_WATCHERS]
    automations += [block_silent(deployments), block_crashed(deployments)]
    automations += [weather_unsafe(deployments), weather_safe(deployments)]
    automations.append(dome_stuck(deployments))
    automations += [device_notice(e, deployments) for e in (DEVICE_LOST, DEVICE_BACK)]
    return automations


def undeclared(existing_names: list[str], declared: list[AutomationCore]) -> list[str]:
    """The names among ``existing_names`` that PyROS owns (:data:`PREFIX`) and no longer
    declares: the bootstrap deletes them."""
    keep = {automation.name for automation in declared}
    return [n for n in existing_names if n.startswith(PREFIX) and n not in keep]
