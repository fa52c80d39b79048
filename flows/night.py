"""The night as Prefect flows (DESIGN §1, §6): plan-night, start-of-night, execute-night (in
blocks), end-of-night. Thin: the policy (tasks/night/policy.py) decides, the loop
(tasks/night/loop.py) carries decisions out through the tasks of tasks/night/prefect_tasks.py.

Times handed to Prefect are wall times converted by the clock (``clock.to_wall``); the simulated
instants travel in parameters and event payloads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import FlowRun, State
from prefect.concurrency.sync import concurrency
from prefect.deployments import run_deployment
from prefect.runtime import flow_run
from prefect.states import Completed

from devices.controllers import Priority
from devices.errors import DeviceProblem
from flows.night_guard import other_blocks_running, scheduled_block_starts
from infra.clock import Clock, format_instant, get_clock, parse_instant
from infra.config import SiteConfig, get_config
from infra.db import session_scope
from infra.events import NIGHT_DEVICE_HOLD, NIGHT_DEVICE_RESUMED, emit
from infra.settings import load_settings
from tasks.calibration.camera_acquisition import CameraAcquisition
from tasks.controlroom.prefect_tasks import DeviceHealthArtifact
from tasks.environment.observatory_state import DomeRequestState
from tasks.night.calibrations import take_night_calibrations
from tasks.night.device_health import hold_change, lost_instruments
from tasks.night.devices import NightDevices, connect_night_devices
from tasks.night.left_frames import (
    adopt_left_frames,
    close_left_sequences,
    finish_exposures_left,
)
from tasks.night.loop import Handlers, LoopSummary, NightLoop
from tasks.night.policy import NightDecision, NightState
from tasks.night.prefect_tasks import execute_sequence_task, night_report_task, request_dome_task
from tasks.night.reconcile import reconcile
from tasks.night.report import recorded_span_end
from tasks.night.resume import (
    cut_short_refusal,
    resume_refusal,
    resumed_block_end,
    weather_wait_message,
)
from tasks.night.state_reader import (
    DeviceView,
    NightAgenda,
    read_night_state,
    trusted_verdict_age_s,
)
from tasks.night.timing_journal import journal_loop_start
from tasks.night.vocabulary import PLAN_NIGHT, CalibrationSet, LoopEnd
from tasks.night.windows import (
    EXECUTE_NIGHT,
    block_end,
    night_run_times,
    windows_of,
)
from tasks.scheduling.night_times import Night, night_for, night_to_plan
from tasks.scheduling.prefect_tasks import insert_sequences_task, plan_night_task

TELESCOPE_LIMIT = "telescope"


def _owner() -> str:
    return f"{flow_run.flow_name}:{flow_run.name}"


def schedule_run(
    name: str, at: datetime, key: str, parameters: dict[str, Any] | None = None
) -> str:
    """Create a run of deployment ``name`` at simulated instant ``at`` (at once if past); the
    idempotency key keeps it single however often this is asked."""
    clock = get_clock()
    wall = max(clock.to_wall(at), clock.to_wall(clock.now()))
    # Called from a synchronous flow (no event loop), run_deployment returns the run itself.
    run = cast(
        FlowRun,
        run_deployment(
            f"{name}/{name}",
            parameters=parameters or {},
            scheduled_time=wall,
            timeout=0,
            idempotency_key=key,
        ),
    )
    return str(run.id)


@flow(name="plan-night")
def plan_night_flow(night: str | None = None) -> dict[str, Any]:
    """In daytime: compute tonight's twilights, schedule the night's runs at those instants,
    and plan tonight's schedule."""
    logger = get_run_logger()
    config, clock = get_config(), get_clock()
    tonight = _tonight(night, config, clock)
    times = night_run_times(tonight, config)
    if not times:
        logger.warning("night %s: no dark time at this site", tonight.label)
        return {"night": tonight.label, "runs": {}}
    runs: dict[str, dict[str, str]] = {}
    for name, at in times.items():
        parameters = {"night": tonight.label}
        runs[name] = {
            "at": format_instant(at),
            "run": schedule_run(name, at, f"{name}:{tonight.label}", parameters),
        }
        logger.info("%s scheduled at %s (simulated)", name, format_instant(at))
    plan = plan_night_task(reason=PLAN_NIGHT)
    return {"night": tonight.label, "runs": runs, "schedule_id": plan["schedule_id"]}


def _night_loop(
    devices: NightDevices, label: str, stop_at: datetime, end_on_weather: bool = False
) -> LoopSummary:
    config, clock = get_config(), get_clock()
    windows = windows_of(night_for(label, config))
    owner = _owner()
    evening = (CalibrationSet.EVENING,) if config.night.evening_calibrations else ()
    dusk_flats = (CalibrationSet.DUSK_FLATS,) if config.night.twilight_flats else ()

    seen: list[DeviceView] = []
    health_artifact = DeviceHealthArtifact()

    def look(done: frozenset[str]) -> NightState:
        view = devices.view()
        seen[:] = [view]
        health_artifact.update(view.health)
        agenda = NightAgenda(
            calibrations_done=done,
            evening_calibrations=evening,
            dusk_flat_calibrations=dusk_flats,
            early_start_s=config.night.early_start_s,
            verdict_max_age_s=trusted_verdict_age_s(config.safety, clock),
        )
        with session_scope() as session:
            return read_night_state(session, clock.now(), windows, view, label, agenda)

    def replan(reason: str) -> str:
        return str(
            plan_night_task(reason=reason, lost=lost_instruments(seen[0].health) if seen else {})
        )

    def insert(ids: tuple[int, ...], reason: str) -> str:
        # A lost camera: the insertion does not know of it, the full plan leaves its sequences
        # out with the reason (#24).
        if seen and lost_instruments(seen[0].health):
            return replan(reason)
        return str(insert_sequences_task(list(ids), reason))

    handlers = Handlers(
        execute=lambda sequence_id: str(execute_sequence_task(devices, sequence_id, owner)),
        replan=replan,
        request_dome=lambda state, reason: request_dome_task(state, reason, owner),
        calibrate=lambda name: _calibrate(devices, name, label, owner),
        insert=insert,
    )
    loop = NightLoop(
        clock,
        look,
        handlers,
        poll_s=config.night.poll_s,
        min_poll_wall_s=config.night.min_poll_wall_s,
        end_on_weather=end_on_weather,
    )
    logger = get_run_logger()
    said: list[tuple[str, str] | None] = [None]
    held: list[str | None] = [None]

    def tell(decision: NightDecision) -> None:
        # Waiting is asked again every poll: say it only when something changed.
        if (decision.action, decision.reason) != said[0]:
            said[0] = (decision.action, decision.reason)
            logger.info("%s: %s", decision.action.value, decision.reason)
        change = hold_change(held[0], decision.device, decision.reason)
        if change is not None:
            starts, payload = change
            held[0] = decision.device
            event = NIGHT_DEVICE_HOLD if starts else NIGHT_DEVICE_RESUMED
            emit(event, f"pyros.night.{label}", payload, source=owner, clock=clock)

    loop.on_decision = tell
    journal_loop_start(owner, clock)  # a replay's loop begins when this one did
    return loop.run(stop_at)


def _calibrate(devices: NightDevices, name: str, label: str, owner: str) -> str:
    """Take and build a calibration set with the night's cameras (and mount, for flats)."""
    config, clock = get_config(), get_clock()
    acquire = CameraAcquisition(
        devices.cameras,
        owner,
        clock,
        config,
        load_settings().frames_dir,
        label,
        mount=devices.mount,
    )
    return take_night_calibrations(name, label, acquire)


def _tonight(night: str | None, config: SiteConfig, clock: Clock) -> Night:
    """The night named, or the one a run starting now works on."""
    return night_for(night, config) if night else night_to_plan(clock.now(), config)


@contextmanager
def _on_the_telescope(config: SiteConfig, clock: Clock) -> Iterator[NightDevices]:
    """The night's devices, connected, inside the ``telescope`` concurrency slot (routine
    telescope work is one run at a time); released and disconnected on the way out."""
    devices = connect_night_devices(config, clock)
    try:
        with concurrency(
            TELESCOPE_LIMIT, strict=True, lease_duration=config.night.telescope_lease_wall_s
        ):
            yield devices
    finally:
        devices.close()


@flow(name="start-of-night")
def start_of_night(night: str | None = None) -> dict[str, Any]:
    """The evening: bias and darks, the dome requested open, twilight flats in their window,
    until the dark night starts (then ``execute-night`` takes over)."""
    config, clock = get_config(), get_clock()
    tonight = _tonight(night, config, clock)
    if tonight.start is None:  # plan-night schedules no run on such a night
        raise RuntimeError(f"night {tonight.label}: no dark time at this site")
    with _on_the_telescope(config, clock) as devices:
        summary = _night_loop(devices, tonight.label, tonight.start)
    return {
        "night": tonight.label,
        "ended": summary.ended.value,
        "calibrations": summary.calibrations,
    }


def _close_dead_run(devices: NightDevices, label: str, clock: Clock) -> None:
    """A block's start after a run that died: its sequences interrupted, the exposures it left in
    flight ended, and their frames adopted (analysed by the block's analysis run), before any
    sequence resumes (a resumed sequence must not expose again over a frame being written)."""
    interrupted = reconcile(None, clock.now(), devices.mount.lease_info().owner)
    if not interrupted:
        return
    finish_exposures_left(devices.cameras)
    adopted = adopt_left_frames(None, load_settings().frames_dir, label, interrupted, clock.now())
    get_run_logger().warning(
        "sequences %s were left executing: now interrupted; %d frame(s) they left adopted",
        interrupted,
        len(adopted),
    )


@flow(name="execute-night")
def execute_night(
    night: str | None = None, block_start: str | None = None, trigger: str | None = None
) -> dict[str, Any] | State[Any]:
    """One block of the night: reconcile, then execute the schedule (re-planning after
    interruptions, new requests) until the block ends, or until the weather turns unsafe (the
    run then ends Completed, "waiting: weather unsafe since T"); the next block is scheduled
    before this one ends, so a crash of this run does not end the night. ``trigger`` names the
    event that started this block by automation (``weather safe``, ``a crashed block``): it
    runs only when wanted, and ends where the next scheduled block starts (docs/events.md)."""
    logger = get_run_logger()
    config, clock = get_config(), get_clock()
    tonight = _tonight(night, config, clock)
    with session_scope() as session:
        cut = cut_short_refusal(recorded_span_end(session, tonight.label), clock.now())
    if cut:  # before its successor is scheduled: the chain of blocks ends here
        logger.info("not started: %s", cut)
        return Completed(message=f"not started: {cut}")
    start = parse_instant(block_start) if block_start else clock.now()
    end = block_end(max(start, clock.now()), tonight, config)
    follows = False
    if trigger:
        refusal = resume_refusal(tonight, clock.now(), other_blocks_running(flow_run.id))
        if refusal:
            logger.info("not started (%s): %s", trigger, refusal)
            return Completed(message=f"not started ({trigger}): {refusal}")
        end, follows = resumed_block_end(end, clock.now(), scheduled_block_starts(tonight.label))
    if not follows and tonight.end is not None and end < tonight.end:
        lead = timedelta(seconds=config.night.block_lead_wall_s * clock.speed)
        schedule_run(
            EXECUTE_NIGHT,
            end - lead,
            f"{EXECUTE_NIGHT}:{tonight.label}:{format_instant(end)}",
            {"night": tonight.label, "block_start": format_instant(end)},
        )
    schedule_run(
        "nrt-analysis",
        clock.now(),
        f"nrt-analysis:{tonight.label}:{format_instant(start)}",
        {"until": format_instant(end)},
    )
    with _on_the_telescope(config, clock) as devices:
        _close_dead_run(devices, tonight.label, clock)
        summary = _night_loop(devices, tonight.label, end, end_on_weather=True)
    result = {
        "night": tonight.label,
        "block_end": format_instant(end),
        "ended": summary.ended.value,
        "executed": summary.executed,
        "replans": summary.replans,
    }
    if summary.ended is LoopEnd.WEATHER:
        with session_scope() as session:
            message = weather_wait_message(session, summary.reason)
        logger.warning("%s", message)
        return Completed(message=message, data=result)
    return result


@flow(name="end-of-night")
def end_of_night(night: str | None = None, dawn_flats: bool = True) -> dict[str, Any]:
    """Dawn: the exposures a dead block left in flight end, dawn flats (in their window, if safe
    and open; ``dawn_flats=False`` skips them), park, the sequences left executing interrupted
    and their frames adopted (tasks/night/left_frames.py), ask the dome closed, write the night
    report."""
    logger = get_run_logger()
    config, clock = get_config(), get_clock()
    label = night or night_to_plan(clock.now() - timedelta(hours=6), config).label
    tonight = night_for(label, config)
    owner = _owner()
    calibrations: list[str] = []
    with _on_the_telescope(config, clock) as devices:
        finish_exposures_left(devices.cameras)
        window = tonight.dawn_flats
        wanted = dawn_flats and config.night.twilight_flats
        if wanted and window is not None and clock.now() < window[1]:
            clock.sleep_until(window[0])
            if devices.view().dome_open:
                calibrations.append(_calibrate(devices, CalibrationSet.DAWN_FLATS, label, owner))
            else:
                calibrations.append(f"{CalibrationSet.DAWN_FLATS}: skipped, the dome is closed")
        try:
            with devices.mount.claim(owner, Priority.ROUTINE):
                devices.mount.park(wait=True)
        except DeviceProblem as problem:
            # The monitor parks at safety priority when it must; a busy mount is not a failure.
            logger.warning("park at the end of the night: %s", problem)
        interrupted, adopted = close_left_sequences(
            None, load_settings().frames_dir, label, clock.now(), devices.mount.lease_info().owner
        )
        if interrupted:
            logger.warning(
                "sequences %s were left executing: interrupted; %d frame(s) they left adopted",
                interrupted,
                len(adopted),
            )
        request_dome_task(DomeRequestState.CLOSED, "end of night", owner)
    report = night_report_task(label)
    return {"night": label, "calibrations": calibrations, "report": report}
