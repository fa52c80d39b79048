"""``pyros night --simulate``: a whole night on the simulators, through the real stack.

The stack (Prefect server, deployments, worker, simulators, gateways, monitor) comes up on a
simulated clock that stands still until everything is healthy; then the epoch is written and the
night starts 30 minutes before sunset; ``plan-night`` is run at once and schedules the rest at
tonight's twilights. The command follows the night (one line per event that matters, a progress
bar), waits for the analysis of the night's last frames, publishes the night report (files and
artifact, from :func:`tasks.night.report.night_report` like every other view of the night),
prints it and the UI address, and leaves the stack up for browsing (``pyros down`` stops it;
``--down`` stops it at once).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from app.cli.nightprogress import NightDisplay
    from app.stack import StackPlan
    from infra.clock import Clock
    from infra.config import SiteConfig
    from infra.settings import Settings

#: The simulation's evening: start-of-night begins this long before sunset.
SIM_EVENING_S = 1800.0
#: The deployments whose runs make a night (cancelled when a simulation is cut short).
NIGHT_RUNS = ["start-of-night", "execute-night", "end-of-night", "nrt-analysis"]
#: The runs a night cut short by --hours stops, running or not: all but the analysis (which goes
#: on with the frames taken), and the bursts' follow-ups — a follow-up left running past the cut
#: had its sequence interrupted by the night's close and then failed on finishing it
#: (``make bench B=alerts``, 2026-12-06: IllegalTransition 'interrupted' -> 'executed').
CUT_SHORT_STOPS = [name for name in NIGHT_RUNS if name != "nrt-analysis"] + ["alert-follow-up"]
#: Why those runs end Cancelled (their state's message in the Prefect UI).
CUT_SHORT_REASON = "the simulated night was cut short (--hours): its runs stop"
#: Smaller simulation frames grow their pixels by at most this factor (the rest of the field
#: is cropped).
MAX_PIXEL_GROWTH = 4.0
#: ... and to at most this scale (arcsec): the night's seeing (1.2–2″) must still span a pixel or
#: more. Coarser, the stars are undersampled (FWHM, centroids and the star/cosmic-ray tests fail)
#: and the infrared sky fills a pixel within one ramp read (H band: no star unsaturated).
MAX_PIXEL_ARCSEC = 1.3
DEFAULT_SCENARIO = (
    Path(__file__).resolve().parents[2] / "simulators" / "data" / "scenarios" / ("night/night.json")
)


@dataclass(frozen=True)
class SimulationPlan:
    """When and how the simulated night runs."""

    night: str
    start: datetime
    end: datetime
    speed: float
    site_file: Path
    clock_spec: str


def derived_site_file(config: SiteConfig, home: Path, frame_px: int) -> Path:
    """The effective site configuration with the simulation's changes: frames of ``frame_px``
    (pixels up to ``MAX_PIXEL_GROWTH`` times coarser and ``MAX_PIXEL_ARCSEC`` at most, the field
    cropped beyond; the dome-flat lamp dimmed by the largest growth), the evening shortened to 30
    minutes.

    Raises
    ------
    ValueError
        ``frame_px`` is larger than an instrument's sensor.
    """
    import tomli_w

    data = config.model_dump(mode="json")
    growth = 1.0
    if frame_px:
        for instrument in data["instruments"]:
            if frame_px > min(instrument["width"], instrument["height"]):
                # Growing a small sensor to a large frame would shrink its pixels instead: a
                # field of arcseconds with no star in it (issue 27's unanalysed night).
                raise ValueError(
                    f"--frame-px {frame_px} is larger than instrument {instrument['name']!r}'s "
                    f"{instrument['width']} x {instrument['height']} pixel sensor in the site "
                    f"file; use at most {min(instrument['width'], instrument['height'])} "
                    "(or 0 for the sensor's own size)"
                )
            # Coarser pixels keep some of the field, but each collects more sky: past 4x the
            # sky alone would saturate a 20 s frame.
            factor = min(
                instrument["width"] / frame_px,
                MAX_PIXEL_GROWTH,
                max(MAX_PIXEL_ARCSEC / instrument["pixel_scale_arcsec"], 1.0),
            )
            instrument["pixel_scale_arcsec"] = instrument["pixel_scale_arcsec"] * factor
            instrument["width"] = instrument["height"] = frame_px
            growth = max(growth, factor)
        # Each coarser pixel also collects more of the dome-flat lamp (growth squared). Dimmed
        # by the growth itself, the coarsest camera's flat stays below saturation at the
        # shortest exposure, and the ramp-fitted infrared flats — whose level against their
        # SATURATE does not change with the exposure — stay within the usable range (dimmed by
        # the whole area they fell below it). Flats set their own exposure for the rest.
        data["sky"]["dome_lamp_mag_arcsec2"] += 2.5 * math.log10(growth)
    data["night"]["evening_lead_s"] = SIM_EVENING_S
    path = home / "run" / "site-simulation.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tomli_w.dumps(_without_none(data)).encode("utf-8"))
    return path


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def plan_simulation(
    config: SiteConfig,
    home: Path,
    *,
    speed: float,
    hours: float | None,
    frame_px: int,
    now: datetime,
) -> SimulationPlan:
    """The night to simulate (the next one at the site), its start and end."""
    from infra.config import load_config
    from tasks.scheduling.night_times import night_to_plan

    night = night_to_plan(now, config)
    if not night.has_dark_time or night.sunset is None or night.start is None or night.end is None:
        raise ValueError(f"night {night.label}: no dark time at this site")
    start = night.sunset - timedelta(seconds=SIM_EVENING_S)
    dawn = night.dawn_flats[1] if night.dawn_flats else night.end
    # --hours counts hours of the dark night; the evening before it is always simulated.
    end = night.start + timedelta(hours=hours) if hours else dawn + timedelta(minutes=10)
    site_file = derived_site_file(config, home, frame_px)
    load_config(site_file)  # the derived file validates, or this says why
    epoch_file = home / "run" / "clock.epoch"
    epoch_file.unlink(missing_ok=True)
    spec = f"sim:{start.isoformat().replace('+00:00', 'Z')}@{speed:g}@file:{epoch_file}"
    return SimulationPlan(night.label, start, end, speed, site_file, spec)


def _bar_figures(session: Any) -> tuple[int, int]:
    """Sequences executed and images so far (the bar's words)."""
    from sqlalchemy import func, select

    from infra.db.models import Image, Sequence

    executed = session.scalar(
        select(func.count()).select_from(Sequence).where(Sequence.state == "executed")
    )
    images = session.scalar(select(func.count()).select_from(Image))
    return executed or 0, images or 0


def _flow_run_states() -> dict[str, int]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    counts: dict[str, int] = {}
    with get_client(sync_client=True) as client:
        for kind in (StateType.FAILED, StateType.CRASHED, StateType.COMPLETED):
            counts[kind.value.lower()] = client.count_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[kind]))
                )
            )
    return counts


def _run_now(name: str, parameters: dict[str, Any], timeout_s: float | None = 0) -> object:
    from prefect.deployments import run_deployment

    return run_deployment(f"{name}/{name}", parameters=parameters, timeout=timeout_s)


def _night_runs(names: list[str], states: list[Any]) -> list[Any]:
    """The runs of deployments ``names`` (only the night's own: the server may be shared,
    PREFECT_API_URL) whose state is of one of the types ``states``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )

    with get_client(sync_client=True) as client:
        return list(
            client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states))
                ),
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names)),
                limit=200,
            )
        )


def _analysis_alive() -> bool:
    """Whether an ``nrt-analysis`` run is scheduled, pending or running."""
    from prefect.client.schemas.objects import StateType

    alive = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
    return bool(_night_runs(["nrt-analysis"], alive))


def _stop_the_night(
    names: list[str] | None = None, *, running: bool = True, reason: str | None = None
) -> list[Any]:
    """Cancel the night's scheduled runs, and its running ones with ``running`` (a simulation
    cut short by --hours; ``names``: these deployments only, default :data:`NIGHT_RUNS`;
    ``reason``: the cancelled states' message); returns the ids of the running ones asked to
    stop (see :func:`_wait_until_stopped`)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import State, StateType
    from prefect.states import Cancelled, Cancelling

    wanted = [StateType.SCHEDULED, StateType.PENDING]
    if running:
        wanted.append(StateType.RUNNING)
    runs = _night_runs(names or NIGHT_RUNS, wanted)
    stopping = []
    with get_client(sync_client=True) as client:
        for run in runs:
            in_flight = run.state is not None and run.state.type == StateType.RUNNING
            stop: State[Any] = (Cancelling if in_flight else Cancelled)(message=reason)
            client.set_flow_run_state(run.id, stop, force=True)
            if in_flight:
                stopping.append(run.id)
    return stopping


def _stop_cut_short() -> list[Any]:
    """Stop a night cut short by --hours: :data:`CUT_SHORT_STOPS` cancelled, running or not, and
    the analysis's scheduled runs (a running one goes on with the frames taken), each with
    :data:`CUT_SHORT_REASON`; returns the running runs asked to stop."""
    stopping = _stop_the_night(CUT_SHORT_STOPS, reason=CUT_SHORT_REASON)
    _stop_the_night(["nrt-analysis"], running=False, reason=CUT_SHORT_REASON)
    return stopping


#: Longest wait (wall seconds) for a cancelled run's process to end (the worker sends SIGTERM,
#: then SIGKILL 30 s later).
STOP_WAIT_WALL_S = 90.0


def _wait_until_stopped(run_ids: list[Any], within_wall_s: float = STOP_WAIT_WALL_S) -> list[Any]:
    """Wait until the runs asked to stop have ended (a final state: their process is gone);
    returns those still not ended after ``within_wall_s``.

    Cancelling only asks: until the worker kills its process, a cancelled block goes on with
    its sequence and starts exposures that the night's end would not wait for (CI, 2026-12-05:
    two frames written after end-of-night, without rows).
    """
    from prefect.client.orchestration import get_client

    if not run_ids:
        return []
    deadline = time.monotonic() + within_wall_s
    left = list(run_ids)
    with get_client(sync_client=True) as client:
        while True:
            left = [
                run_id
                for run_id in left
                if not ((state := client.read_flow_run(run_id).state) and state.is_final())
            ]
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.5)


def simulate_night(
    *,
    speed: float,
    scenario: Path | None,
    hours: float | None,
    frame_px: int,
    down: bool,
    display: NightDisplay,
    grb_after_dark_s: float | None = None,
    grb_error_deg: float | None = None,
) -> dict[str, Any]:
    """Run a simulated night (see the module docstring); returns the summary figures and the
    report's Markdown. With the default scenario, ``grb_after_dark_s`` puts a GRB (its notice
    through the broker, its afterglow in the sky) that long into the dark night, when the run
    reaches it; ``grb_error_deg`` makes it a Fermi GBM burst with that error radius, its
    afterglow in one of the tiles."""
    from app.supervisor.launch import down as stop_stack
    from infra.clock import get_clock
    from infra.config import get_config
    from infra.db import get_engine
    from infra.settings import load_settings

    plan = plan_simulation(
        get_config(),
        load_settings().home,
        speed=speed,
        hours=hours,
        frame_px=frame_px,
        now=datetime.now().astimezone(),
    )
    settings, config = _switch_to_simulation(plan)
    if scenario is None and grb_after_dark_s is not None:
        scenario = _default_with_grb(
            plan, config, settings.run_dir, (grb_after_dark_s, grb_error_deg), display.say
        )
    stack, wall_start = _bring_up_stack(settings, config, scenario, display.say)
    clock = get_clock()
    display.say(
        f"night {plan.night}: simulated {plan.start:%Y-%m-%d %H:%M} -> "
        f"{plan.end:%H:%M} UTC at {speed:g}x"
    )
    _run_now("plan-night", {"night": plan.night})
    engine = get_engine()
    _follow_the_night(plan, hours, clock, engine, display)
    _record_run(plan, clock, engine, _run_figures(plan, clock, wall_start))
    result = night_result(plan.night, ui=str(stack.info["ui"]))
    if down:
        stop_stack(settings.run_dir)
    return result


def _default_with_grb(
    plan: SimulationPlan,
    config: SiteConfig,
    folder: Path,
    burst: tuple[float, float | None],
    say: Callable[[str], None],
) -> Path | None:
    """The default scenario with a GRB (``burst``: seconds into the dark night, error radius in
    degrees or None for the Swift drill's), written into ``folder`` (None, the default scenario
    as it is, when the run ends before it)."""
    from app.cli.nightgrb import scenario_with_grb
    from tasks.scheduling.night_times import night_for

    after_dark_s, error_deg = burst
    night = night_for(plan.night, config)
    if night.start is None:
        return None
    at = night.start + timedelta(seconds=after_dark_s)
    if at >= plan.end:
        say(f"no GRB tonight: the run ends before {at:%H:%M} UTC (--grb-after-dark)")
        return None
    at_s = (at - plan.start).total_seconds()
    scenario, grb = scenario_with_grb(DEFAULT_SCENARIO, folder, config, plan.start, at_s, error_deg)
    say(f"a GRB at {at:%H:%M:%S} UTC: {grb.ivorn} ({grb.ra_deg:.3f}, {grb.dec_deg:+.3f})")
    return scenario


def _switch_to_simulation(plan: SimulationPlan) -> tuple[Settings, SiteConfig]:
    """Point this process at the simulation (its clock, mode and derived site file) and
    initialise the database; returns the settings and configuration now in effect."""
    from infra.clock import set_clock
    from infra.config import _cached, get_config
    from infra.db import get_engine
    from infra.db.bootstrap import init_database
    from infra.settings import load_settings

    os.environ.update(
        {
            "PYROS_CLOCK": plan.clock_spec,
            "PYROS_MODE": "sim",
            "PYROS_SITE_CONFIG": str(plan.site_file),
        }
    )
    _cached.cache_clear()
    set_clock(None)
    settings, config = load_settings(), get_config()
    init_database(get_engine(), config)
    return settings, config


def _bring_up_stack(
    settings: Settings,
    config: SiteConfig,
    scenario: Path | None,
    progress: Callable[[str], None],
) -> tuple[StackPlan, float]:
    """Start the whole stack on the standing clock, then write the epoch: the night starts.
    Returns the stack and the epoch (wall seconds)."""
    from app.stack import check_ports_free, plan_stack
    from app.supervisor.launch import up
    from infra.clock import write_epoch_file

    stack = plan_stack(settings, config, scenario=scenario or DEFAULT_SCENARIO)
    check_ports_free(stack.ports)
    progress(
        f"starting the stack (Prefect UI at {stack.info['ui']}; the observatory from another "
        "shell: pyros status --watch)"
    )
    up(
        stack.specs,
        settings.run_dir,
        settings.log_dir,
        info=stack.info,
        timeout_s=config.stack.startup_timeout_s + 120,
    )
    os.environ["PREFECT_API_URL"] = stack.env["PREFECT_API_URL"]
    epoch = time.time()
    write_epoch_file(settings.run_dir / "clock.epoch", epoch)
    return stack, epoch


def _follow_the_night(
    plan: SimulationPlan,
    hours: float | None,
    clock: Clock,
    engine: Engine,
    display: NightDisplay,
) -> None:
    """Show the night until its end (a line per event, the bar); a night cut short by
    ``--hours`` is stopped and closed (park, close) at once. Then wait for the analysis of the
    night's last frames."""
    from infra.db import session_scope
    from tasks.night.progress import ProgressReader

    reader = ProgressReader()
    with session_scope(engine) as session:
        reader.start_at_end(session)
    display.start_night(plan.start, plan.end)
    ended = False
    night_end_wall: datetime | None = None  # when a night cut short began to end
    try:
        while clock.now() < plan.end:
            _show_changes(reader, engine, display, clock)
            time.sleep(min(2.0, max(0.5, clock.wall_seconds(120))))
            if hours is None and _end_of_night_done():
                ended = True
                break
        if not ended:
            if hours is not None:
                still = _wait_until_stopped(_stop_cut_short())
                if still:
                    display.say(f"{len(still)} cancelled run(s) not ended after "
                                f"{STOP_WAIT_WALL_S:g} s: the night's end goes on")  # fmt: skip
                with session_scope(engine) as session:
                    record_span(session, plan, clock)
            _show_changes(reader, engine, display, clock)
            display.say(f"{clock.now():%H:%M:%S} end of the night: park, close the dome, report")
            if hours is None:
                _run_now("end-of-night", {"night": plan.night, "dawn_flats": True}, timeout_s=600)
            else:
                night_end_wall = datetime.now(UTC)
                _end_cut_short(plan, engine, clock)
        _show_changes(reader, engine, display, clock)
    finally:
        display.close()
    _wait_for_analysis(plan, engine, display, cut_short=hours is not None)
    if night_end_wall is not None and _sweep_runs_past_the_end(plan, night_end_wall, display):
        _end_cut_short(plan, engine, clock)
        # The night's analysis runs are stopped: the wait starts one for the frames left.
        _wait_for_analysis(plan, engine, display, cut_short=True)


def _end_cut_short(plan: SimulationPlan, engine: Engine, clock: Clock) -> None:
    """The end of a night cut short: end-of-night without the dawn flats hours ahead (park,
    close, report), then what a cancelled block or follow-up left executing interrupted (its
    process is killed; end-of-night has taken the mount, so that run holds nothing now)."""
    from infra.settings import load_settings
    from tasks.night.left_frames import close_left_sequences

    _run_now("end-of-night", {"night": plan.night, "dawn_flats": False}, timeout_s=600)
    close_left_sequences(
        engine, load_settings().frames_dir, plan.night, clock.now(), live_owner=None
    )


def record_span(session: Any, plan: SimulationPlan, clock: Clock) -> None:
    """Journal the end of the span a night cut short reports (every later report uses it)."""
    from tasks.night.report import record_night_run

    record_night_run(session, plan.night, clock.now(), span_end=plan.end)


def _show_changes(reader: Any, engine: Engine, display: NightDisplay, clock: Clock) -> None:
    from infra.db import session_scope
    from tasks.night.progress import progress_lines

    with session_scope(engine) as session:
        lines = progress_lines(reader.read(session))
        executed, images = _bar_figures(session)
    for line in lines:
        display.say(line)
    display.tick(clock.now(), executed, images)


#: Longest wait (wall seconds) for the analysis of the night's last frames.
ANALYSIS_WAIT_WALL_S = 300.0


def _wait_for_analysis(
    plan: SimulationPlan, engine: Engine, display: NightDisplay, *, cut_short: bool
) -> None:
    """Wait (at most :data:`ANALYSIS_WAIT_WALL_S`) until every science frame of the night has
    its analysis, then stop what is left of the night's analysis runs. A night cut short stays
    stopped meanwhile: a block that scheduled its successor while being cancelled would
    otherwise go on observing past the span. While frames wait and no analysis run is left
    (they end at their block's end, or were stopped), or none of them was analysed for a
    claim's lease and a drain's idle time (a run shown running may be a dead one: a killed
    worker's), an analysis run is started: it takes over the claims of a consumer stopped
    mid-analysis once they are abandoned (:data:`~tasks.nrt.analysis_rows.CLAIM_LEASE_WALL_S`)."""
    from infra.db import session_scope
    from tasks.night.report import frames_pending
    from tasks.nrt import analysis_rows

    drain_s = analysis_rows.CLAIM_LEASE_WALL_S + DRAIN_IDLE_WALL_S
    deadline = time.monotonic() + ANALYSIS_WAIT_WALL_S
    said = -1
    moved = time.monotonic()  # when the frames waiting last changed, or a run was started
    while True:
        if cut_short:
            _stop_the_night(["start-of-night", "execute-night"])
        with session_scope(engine) as session:
            pending = frames_pending(session, plan.night)
        if pending == 0 or time.monotonic() >= deadline:
            break
        if pending != said:
            display.say(f"waiting for the analysis of {pending} frame(s)")
            said, moved = pending, time.monotonic()
        stalled = time.monotonic() - moved >= drain_s
        if stalled or not _analysis_alive():
            why = f"no frame analysed for {drain_s:g} s" if stalled else "no analysis run left"
            display.say(f"{why}: an analysis run started for the frames waiting")
            _run_now("nrt-analysis", {"idle_timeout_s": drain_s})
            moved = time.monotonic()
        time.sleep(2.0)
    if pending:
        display.say(f"{pending} frame(s) not analysed after {ANALYSIS_WAIT_WALL_S:g} s")
    _stop_the_night(["nrt-analysis"])


#: How long (wall seconds without a frame) the run analysing the frames left after a sweep lasts.
DRAIN_IDLE_WALL_S = 10.0


def _sweep_runs_past_the_end(plan: SimulationPlan, since: datetime, display: NightDisplay) -> bool:
    """After a night cut short: if a block or follow-up ran past the night's end (``since``,
    wall: a successor a cancelled block scheduled, a block an automation started, a run whose
    process outlived the wait), stop it and wait for it; returns whether there was one (the
    caller then ends the night again, which lets its exposures end and adopts its frames).

    CI, 2026-12-06 (the worker killed near the night's end): the first frames of a sequence were
    on disk without rows, exposed after the night's end had adopted what it found.
    """
    late = _runs_alive_at(CUT_SHORT_STOPS, since)
    if not late:
        return False
    display.say(f"{len(late)} run(s) went on past the end of the night: stopped; end of the "
                "night again for what they left")  # fmt: skip
    _wait_until_stopped(_stop_the_night(CUT_SHORT_STOPS, reason=CUT_SHORT_REASON))
    return True


def _runs_alive_at(names: list[str], since: datetime) -> list[Any]:
    """The ids of the runs of deployments ``names`` that started and had not ended at ``since``
    (still running, or ended after it)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterEndTime,
        FlowRunFilterStartTime,
    )

    # Filtered by the server: a shared server's older nights never crowd out tonight's runs.
    still_running = FlowRunFilter(
        start_time=FlowRunFilterStartTime(is_null_=False),
        end_time=FlowRunFilterEndTime(is_null_=True),
    )
    # Validated, not constructed: the filter's type is Prefect's pendulum DateTime.
    ended_since = FlowRunFilter(end_time=FlowRunFilterEndTime.model_validate({"after_": since}))
    deployments = DeploymentFilter(name=DeploymentFilterName(any_=names))
    with get_client(sync_client=True) as client:
        return list(
            {
                run.id
                for wanted in (still_running, ended_since)
                for run in client.read_flow_runs(
                    flow_run_filter=wanted, deployment_filter=deployments, limit=200
                )
            }
        )


def _run_figures(plan: SimulationPlan, clock: Clock, wall_start: float) -> dict[str, Any]:
    """How the runs ended and how fast the simulation went."""
    wall = time.time() - wall_start
    simulated = (clock.now() - plan.start).total_seconds()
    states = _flow_run_states()
    return {
        "flow_runs_failed": states.get("failed", 0),
        "flow_runs_crashed": states.get("crashed", 0),
        "flow_runs_completed": states.get("completed", 0),
        "wall_seconds": round(wall, 1),
        "simulated_seconds": round(simulated, 1),
    }


def _record_run(
    plan: SimulationPlan, clock: Clock, engine: Engine, figures: dict[str, Any]
) -> None:
    """Journal the run's figures: the night's report shows them from now on."""
    from infra.db import session_scope
    from tasks.night.report import record_night_run

    with session_scope(engine) as session:
        record_night_run(session, plan.night, clock.now(), figures=figures)


def night_result(label: str, *, ui: str) -> dict[str, Any]:
    """Publish night ``label``'s report (files and artifact, from the one computation, in a task
    run of the stack's Prefect) and return what the command prints: the summary (with the
    report's path and the UI) and the Markdown."""
    from tasks.night.prefect_tasks import night_report_task

    published = dict(night_report_task(label))
    markdown_path = Path(published.pop("report_path"))
    summary = {**published, "report": str(markdown_path), "ui": ui}
    return {"summary": summary, "markdown": markdown_path.read_text(encoding="utf-8")}


def _end_of_night_done() -> bool:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["end-of-night"])),
            limit=10,
        )
    return any(run.state is not None and run.state.is_final() for run in runs)
