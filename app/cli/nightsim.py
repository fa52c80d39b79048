"""``pyros night --simulate``: a whole night on the simulators, through the real stack.

The stack (Prefect server, deployments, worker, simulators, gateways, monitor) comes up on a
simulated clock that stands still until everything is healthy; then the epoch is written and the
night starts 30 minutes before sunset; ``plan-night`` is run at once and schedules the rest at
tonight's twilights. The command follows the night, prints the night report and the UI address,
and leaves the stack up for browsing (``pyros down`` stops it; ``--down`` stops it at once).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from app.stack import StackPlan
    from infra.clock import Clock
    from infra.config import SiteConfig
    from infra.settings import Settings

#: The simulation's evening: start-of-night begins this long before sunset.
SIM_EVENING_S = 1800.0
#: The deployments whose runs make a night (cancelled when a simulation is cut short).
NIGHT_RUNS = ["start-of-night", "execute-night", "end-of-night", "nrt-analysis"]
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
    cropped beyond), the evening shortened to 30 minutes."""
    import tomli_w

    data = config.model_dump(mode="json")
    if frame_px:
        for instrument in data["instruments"]:
            # Coarser pixels keep some of the field, but each collects more sky: past 4x the
            # sky alone would saturate a 20 s frame.
            factor = min(
                instrument["width"] / frame_px,
                MAX_PIXEL_GROWTH,
                max(MAX_PIXEL_ARCSEC / instrument["pixel_scale_arcsec"], 1.0),
            )
            instrument["pixel_scale_arcsec"] = instrument["pixel_scale_arcsec"] * factor
            instrument["width"] = instrument["height"] = frame_px
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


def _count_night(engine: Engine) -> dict[str, Any]:
    from sqlalchemy import func, select

    from infra.db import session_scope
    from infra.db.models import Image, Sequence

    with session_scope(engine) as session:
        states = dict(
            session.execute(select(Sequence.state, func.count()).group_by(Sequence.state)).all()
        )
        images = session.scalar(select(func.count()).select_from(Image)) or 0
    return {"states": states, "images": images}


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


def _stop_the_night() -> None:
    """Cancel the night's scheduled and running runs (a simulation cut short by --hours)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled, Cancelling

    wanted = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=wanted))
            ),
            # Only the night's own runs: the server may be shared (PREFECT_API_URL).
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=NIGHT_RUNS)),
            limit=200,
        )
        for run in runs:
            running = run.state is not None and run.state.type == StateType.RUNNING
            client.set_flow_run_state(run.id, Cancelling() if running else Cancelled(), force=True)


def simulate_night(
    *,
    speed: float,
    scenario: Path | None,
    hours: float | None,
    frame_px: int,
    down: bool,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Run a simulated night (see the module docstring); returns the summary figures."""
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
    stack, wall_start = _bring_up_stack(settings, config, scenario, progress)
    clock = get_clock()
    progress(
        f"night {plan.night}: simulated {plan.start:%Y-%m-%d %H:%M} -> "
        f"{plan.end:%H:%M} UTC at {speed:g}x"
    )
    _run_now("plan-night", {"night": plan.night})
    engine = get_engine()
    _follow_the_night(plan, hours, clock, engine, progress)
    extra = _run_figures(plan, clock, wall_start)
    result = _report(plan, hours, engine, extra, ui=str(stack.info["ui"]))
    if down:
        stop_stack(settings.run_dir)
    return result


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
    progress(f"starting the stack (Prefect UI at {stack.info['ui']})")
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
    progress: Callable[[str], None],
) -> None:
    """Report progress until the night's end; a night cut short by ``--hours`` is stopped and
    closed (park, close, report) at once."""
    ended = False
    while clock.now() < plan.end:
        counts = _count_night(engine)
        progress(
            f"{clock.now():%H:%M:%S} simulated: sequences {counts['states']}, "
            f"images {counts['images']}"
        )
        time.sleep(min(10.0, max(1.0, clock.wall_seconds(600))))
        if hours is None and _end_of_night_done():
            ended = True
            break
    if not ended:
        if hours is not None:
            _stop_the_night()
        # Cut short: no waiting for the dawn flats hours ahead; park, close, report.
        _run_now("end-of-night", {"night": plan.night, "dawn_flats": hours is None}, timeout_s=600)


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
        "speed_factor": round(simulated / wall, 1) if wall else None,
    }


def _report(
    plan: SimulationPlan,
    hours: float | None,
    engine: Engine,
    extra: dict[str, Any],
    *,
    ui: str,
) -> dict[str, Any]:
    """The night report, written to the reports directory; the summary and its Markdown."""
    from infra.config import get_config
    from infra.db import session_scope
    from tasks.night.prefect_tasks import reports_dir
    from tasks.night.report import night_report, render_markdown, write_report_files

    with session_scope(engine) as session:
        report = night_report(
            session, plan.night, get_config(), extra=extra, until=plan.end if hours else None
        )
    markdown_path, _ = write_report_files(report, reports_dir())
    summary = {**report.summary, "report": str(markdown_path), "ui": ui}
    return {"summary": summary, "markdown": render_markdown(report)}


def _end_of_night_done() -> bool:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["end-of-night"])),
            limit=10,
        )
    return any(run.state is not None and run.state.is_final() for run in runs)
