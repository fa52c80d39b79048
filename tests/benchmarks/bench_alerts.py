"""``make bench B=alerts``: the alert reflex's latency, notice to slew (issue #18).

A real intake (``twistd comet``, the local Kafka broker, ``pyros alert listen`` with its reflex;
tests/support/alert_intake.py) and the device simulators behind their gateways (``pyros
simulators start``, ``pyros gateways start``), on free ports, under a simulated clock at GRB
181213's notice (speed 1). ``PYROS_BENCH_ALERTS`` (default 50) Swift BAT position notices, each of
its own trigger (each a follow-up), are sent one at a time through the Comet broker; in every
second trial a routine holder has the mount and the visible camera, with an exposure in flight.

- t0: the wall instant the notice's bytes were sent to the broker (tests/support/vtp_send.py);
- t1: the first wall instant the mount *simulator* (polled directly on its device port every
  ~2 ms, bypassing the gateway) reports the burst as its target.

Figures: ``alert_to_slew_p50_s`` / ``_p95_s`` (goal p95 <= 0.1 s), by trial kind too. After each
trial the bench takes the burst's leases over as the follow-up flow would (same owner, alert
priority) and releases them. Prefect's own path (``prefect_path_*``): the same notices through
event -> automation -> deployment run -> flow code issuing the slew.

Part ``night`` (``alerts_night``, one line per speed of ``PYROS_BENCH_ALERTS_NIGHT_SPEEDS``, default
100 and 10): the main job's path, ``pyros night --simulate`` over
:data:`NIGHT_HOURS` of dark night with the default scenario and :data:`NIGHT_BURSTS_MIN` bursts
(the drill notice through the broker, its afterglow in the sky; ``app/cli/nightgrb.py``), from the
night's own summary (``tasks/night/alerts_report.py``): ``alert_to_first_frame_p50_s`` and
``alert_to_afterglow_p50_s`` in **simulated** seconds (the sky's time, with the default simulated
slew and strategy), the afterglows found. ``ALERTS_PARTS`` chooses the parts (``reflex,night``).
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from devices.client import NdjsonClient
from devices.controllers import ImageType, Priority, connect_camera, connect_mount
from infra.clock import parse_clock
from infra.config import load_config
from tests.benchmarks.bench_night import run_night, simulated_night_start
from tests.benchmarks.common import emit, failed_runs, isolated_home, machine
from tests.support.alert_intake import PYROS, IntakeRig
from tests.support.ports import free_port, wait_port
from tests.support.voevents import SYNTHETIC, variant

N = int(os.environ.get("PYROS_BENCH_ALERTS", "50"))
#: Notices through Prefect's own path (each costs a flow run's start: seconds).
N_PREFECT = int(os.environ.get("PYROS_BENCH_ALERTS_PREFECT", "10"))
CLOCK = "sim:2018-12-13T12:58:45Z@1"
DEVICES = ("mount", "camera_vis", "camera_nir", "plc", "dome")
#: Two positions 0.3° of RA apart (at Dec +78.5: 0.06°), alternated so each trial moves the target.
RA = (248.2071, 248.5071)


def _free_device_ports(rig: IntakeRig) -> dict[str, int]:
    """Rewrite the rig's site file with the devices and gateways on free ports and 64 px
    frames; returns the simulators' ports."""
    site = rig.home / "site.toml"
    text = site.read_text(encoding="utf-8")
    devices = {name: free_port() for name in DEVICES}
    for number, name in enumerate(DEVICES):
        section = f'[devices.{name}]\nhost = "127.0.0.1"\nport = '
        text = text.replace(f"{section}{5000 + number}", f"{section}{devices[name]}")
        text = text.replace(f"{name} = {5100 + number}\n", f"{name} = {free_port()}\n")
    text = re.sub(r"(?m)^(width|height) = \d+", r"\g<1> = 64", text)
    site.write_text(text, encoding="utf-8")
    rig.config = load_config(site)
    return devices


def _start_devices(rig: IntakeRig, devices: dict[str, int]) -> None:
    for name in ("simulators", "gateways"):
        rig.processes[name] = rig._spawn(name, [*PYROS, name, "start"], rig.env)
    for port in devices.values():
        wait_port(port, 120, rig.processes["simulators"], what="simulator")
    for name in DEVICES:
        port = getattr(rig.config.gateways.ports, name)
        wait_port(port, 120, rig.processes["gateways"], what="gateway")


def _watch_target(client: NdjsonClient, ra: float, seen: list[float], stop: threading.Event):
    while not stop.is_set():
        target = client.call("STATUS").get("target") or {}
        if target.get("ra_deg") is not None and abs(target["ra_deg"] - ra) < 1e-3:
            seen.append(time.time())
            return
        time.sleep(0.002)


def _trial(
    rig: IntakeRig, index: int, mount_sim: NdjsonClient, routine: bool, reflex: bool = True
) -> float:
    config, clock = rig.config, parse_clock(CLOCK)
    ra = RA[index % 2]
    trigger = 900000 + index
    raw = variant(SYNTHETIC, ivorn=f"ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_{trigger}-475",
                  params={"TrigID": str(trigger)}, ra=ra, error=0.002)  # fmt: skip
    mount = connect_mount(config, clock=clock)
    camera = connect_camera("Visible camera", config, clock=clock)
    try:
        if routine:
            mount.claim("execute-night:bench", Priority.ROUTINE)
            camera.claim("execute-night:bench", Priority.ROUTINE)
            camera.filter_wheel.wait_until_idle()  # the previous trial's first filter
            camera.start_exposure(600.0, ImageType.LIGHT, frame_id=f"routine-{index}",
                                  path=rig.home / f"routine-{index}.fits")  # fmt: skip
        seen: list[float] = []
        stop = threading.Event()
        watcher = threading.Thread(target=_watch_target, args=(mount_sim, ra, seen, stop))
        watcher.start()
        sent = rig.send_comet([raw])["times"]["000000.xml"]
        watcher.join(120)
        stop.set()
        if not seen:
            raise RuntimeError(f"trial {index}: no slew within 120 s\n{rig.tail()}")
        row = rig.wait_ivorns({f"ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_{trigger}-475"})[-1]
        if reflex:
            _reflex_done(rig, f"alert:Swift:{trigger}")
            _take_over(rig, f"alert:Swift:{trigger}")
        else:
            time.sleep(1.0)  # the probe run releases the mount
        assert row["decision"] == "follow-up", row
        return seen[0] - sent
    finally:
        if routine and not reflex:
            camera.abort()  # Prefect's path never takes the camera: end the routine exposure
        mount.disconnect()
        camera.disconnect()


def _reflex_done(rig: IntakeRig, owner: str) -> None:
    """Wait until the listener shows the reflex of ``owner`` done (cameras claimed too)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if (rig.status().get("reflex") or {}).get("owner") == owner:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise RuntimeError(f"the reflex of {owner} not shown within 30 s")


def _take_over(rig: IntakeRig, owner: str) -> None:
    """What the follow-up flow does with the reflex's leases (here: take them, give them back)."""
    clock = parse_clock(CLOCK)
    controllers = [connect_mount(rig.config, clock=clock)] + [
        connect_camera(i.name, rig.config, clock=clock) for i in rig.config.instruments
    ]
    for controller in controllers:
        controller.claim(owner, Priority.ALERT, wait_s=5.0).release()
        controller.disconnect()


def _prefect_path(rig: IntakeRig, mount_sim: NdjsonClient, first: int) -> list[float]:
    """The same notices through Prefect's own path: the listener without its reflex announces
    the follow-up after the commit; a deployment trigger starts a served flow that slews."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **rig.env,
        "PREFECT_HOME": str(rig.home / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    server = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
              "--port", str(port)]  # fmt: skip
    rig.processes["prefect-server"] = rig._spawn("prefect-server", server, env)
    _wait_http(f"{api}/health", 180)
    rig.processes["probe"] = rig._spawn(
        "probe", [sys.executable, "-m", "tests.benchmarks.alerts_probe"], env
    )
    _wait_http(f"{api}/deployments/name/alert-slew-probe/alert-slew-probe", 180)
    time.sleep(5.0)  # the trigger's automation is loaded by the triggers service
    site = rig.home / "site.toml"
    site.write_text(site.read_text(encoding="utf-8").replace("reflex = true", "reflex = false"),
                    encoding="utf-8")  # fmt: skip
    rig.stop_listener()
    rig.env.update(PREFECT_API_URL=api)
    rig.start_listener()
    return [_trial(rig, first + i, mount_sim, i % 2 == 1, reflex=False) for i in range(N_PREFECT)]


def _wait_http(url: str, within_s: float) -> None:
    import httpx

    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not answering within {within_s} s")


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 4)


#: The night part's bursts, minutes into the dark night (a follow-up takes about 6 minutes).
NIGHT_BURSTS_MIN = (10.0, 30.0, 50.0)
NIGHT_HOURS = 1.25
#: Speeds of the night part. At 100x every wall second the follow-up flow takes to start (the
#: worker spawns a process that imports the project: 3-10 s) is 100 simulated seconds; at 10x the
#: same start costs ten times less sky time, nearer what a real night (1x) sees.
NIGHT_SPEEDS = tuple(
    float(s) for s in os.environ.get("PYROS_BENCH_ALERTS_NIGHT_SPEEDS", "100,10").split(",")
)


def night_part() -> None:
    """Bursts chased through a whole simulated night at each of :data:`NIGHT_SPEEDS`."""
    for speed in NIGHT_SPEEDS:
        night_at(speed)


def night_at(speed: float) -> None:
    """Bursts chased through a whole simulated night at ``speed`` (see the module)."""
    from app.cli.nightgrb import grb_items
    from app.cli.nightsim import DEFAULT_SCENARIO
    from simulators.scenario_edit import with_items

    run_start, dark_start = simulated_night_start()
    config = load_config()
    with tempfile.TemporaryDirectory(prefix="pyros-bench-grbs-") as tmp:
        folder = Path(tmp)
        items: list[dict] = []
        for number, minutes in enumerate(NIGHT_BURSTS_MIN):
            at_s = (dark_start - run_start).total_seconds() + minutes * 60.0
            items += grb_items(folder, config, run_start, at_s, f"grb-{number}.xml").items
        scenario = with_items(DEFAULT_SCENARIO, items, folder / "grbs.json")
        night = run_night(speed, NIGHT_HOURS, 512, scenario=scenario, inspect=_followup_starts)
    summary, inspected = night["summary"], night["inspected"]
    starts = inspected["flow_start_wall_s"]
    alerts = summary.get("alerts") or []

    def median(key: str) -> float | None:
        values = [a[key] for a in alerts if a.get(key) is not None]
        return round(statistics.median(values), 3) if values else None

    emit(
        "alerts_night",
        speed=speed,
        hours=NIGHT_HOURS,
        bursts=len(NIGHT_BURSTS_MIN),
        alerts_received=summary.get("alerts_received"),
        alerts_followed=summary.get("alerts_followed"),
        afterglows_found=summary.get("afterglows_found"),
        alert_to_slew_wall_p50_s=median("alert_to_slew_s"),
        alert_to_first_frame_p50_s=median("alert_to_first_frame_s"),
        alert_to_afterglow_p50_s=median("alert_to_afterglow_s"),
        followup_flow_start_wall_p50_s=_q(starts, 0.5) if starts else None,
        followup_flow_start_wall_s=starts,
        per_alert=alerts,
        flow_runs_failed=summary["flow_runs_failed"],
        flow_runs_crashed=summary["flow_runs_crashed"],
        runs_failed_or_crashed=inspected["runs_failed_or_crashed"],
        load_1min_after=round(os.getloadavg()[0], 2),
        **machine(),
    )


def _followup_starts(home: Path, night: str) -> dict[str, Any]:
    """Wall seconds from each ``alert-follow-up`` run's creation (the event's trigger) to its
    flow code running, and why each failed or crashed run of the night ended so, read from the
    night's own Prefect database (its home is removed after the night)."""
    import sqlite3

    starts = (
        "select julianday(fr.start_time) - julianday(fr.created) from flow_run fr"
        " join flow f on f.id = fr.flow_id"
        " where f.name = 'alert-follow-up' and fr.start_time is not null"
    )
    with sqlite3.connect(home / "prefect" / "prefect.db") as db:
        days = [row[0] for row in db.execute(starts)]
    return {
        "flow_start_wall_s": [round(d * 86400.0, 2) for d in days],
        "runs_failed_or_crashed": failed_runs(home),
    }


def main() -> None:
    parts = os.environ.get("ALERTS_PARTS", "reflex,night").split(",")
    if "reflex" in parts:
        reflex_part()
    if "night" in parts:
        night_part()


def reflex_part() -> None:
    """The reflex's latency and Prefect's own path (see the module)."""
    with isolated_home() as home:
        rig = IntakeRig(home / "intake", clock=CLOCK)
        os.environ["PYROS_SITE_CONFIG"] = str(rig.home / "site.toml")
        os.environ["PYROS_HOME"] = str(rig.home)
        try:
            devices = _free_device_ports(rig)
            _start_devices(rig, devices)
            rig.start_brokers()
            rig.start_listener()
            mount_sim = NdjsonClient("127.0.0.1", devices["mount"], name="mount", timeout_s=5)
            mount_sim.start()
            load = os.getloadavg()[0]
            kinds: dict[str, list[float]] = {"idle": [], "routine": []}
            for index in range(N):
                routine = index % 2 == 1
                kinds["routine" if routine else "idle"].append(
                    _trial(rig, index, mount_sim, routine)
                )
            every = kinds["idle"] + kinds["routine"]
            prefect = _prefect_path(rig, mount_sim, 900000 + N) if N_PREFECT else []
            mount_sim.close()
            emit(
                "alerts",
                notices=N,
                alert_to_slew_p50_s=_q(every, 0.50),
                alert_to_slew_p95_s=_q(every, 0.95),
                alert_to_slew_max_s=round(max(every), 4),
                alert_to_slew_mean_s=round(statistics.fmean(every), 4),
                idle_p50_s=_q(kinds["idle"], 0.5),
                with_routine_exposure_p50_s=_q(kinds["routine"], 0.5),
                with_routine_exposure_p95_s=_q(kinds["routine"], 0.95),
                goal_p95_s=0.1,
                prefect_notices=len(prefect),
                prefect_path_p50_s=_q(prefect, 0.5) if prefect else None,
                prefect_path_p95_s=_q(prefect, 0.95) if prefect else None,
                reflex_speedup_p50=round(_q(prefect, 0.5) / _q(every, 0.5), 1) if prefect else None,
                goal_speedup=20,
                load_1min=round(load, 2),
                load_1min_after=round(os.getloadavg()[0], 2),
                **machine(),
            )
        finally:
            rig.close()
            for path in rig.home.glob("routine-*.fits"):
                path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
