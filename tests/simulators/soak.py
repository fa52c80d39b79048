"""A long simulated run with random faults: do the simulators survive and leak nothing?

``pyros simulators start --scenario soak.json`` runs as its own process (so a crash is seen and
its file descriptors and sockets can be counted with psutil) under a simulated clock, on free
ports, with small frames. Real gateways (in this process) front it, and one worker per device
drives it through the controllers the whole time: the mount slews, the dome opens and closes, the
cameras change filters and expose, the PLC is polled like the environment monitor would. Faults
come from the scenario (random device, kind, start and duration, from a seeded generator) and
from the control channel during the run (what ``pyros simulators fault`` sends). At the end every
fault is over; the gateways must all be connected again, the process alive, and its descriptors,
TCP connections and threads back where they were after warm-up.

Used by the integration test (``tests/integration/test_simulators_soak.py``) and the benchmark
(``make bench B=simulators``).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from devices.astrometry import radec_deg
from devices.controllers import GatewayCamera, GatewayDome, GatewayMount, GatewayPlc
from devices.controllers.link import GatewayLink, LinkSettings
from devices.errors import DeviceProblem
from devices.gateway import Gateway, GatewayTiming
from infra.clock import parse_clock
from infra.config import DEFAULT_CONFIG_PATH, load_config
from simulators.control import call
from simulators.faults import FAULT_KINDS
from tests.support.cli import pyros_command
from tests.support.ports import free_port

DEVICES = ("mount", "camera_vis", "camera_nir", "plc", "dome")
START = datetime(2026, 12, 9, 3, 0, tzinfo=UTC)
DEVICE_TIMEOUT_S = 1.0
LINK = LinkSettings(
    timeout_s=DEVICE_TIMEOUT_S + 1.0,
    claim_wait_s=1.0,
    heartbeat_s=0.5,
    poll_interval_s=0.02,
    min_wait_s=2.0,
    reconnect_initial_s=0.02,
    reconnect_max_s=0.5,
)


def _site(home: Path, ports: dict[str, int]) -> Path:
    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    for name, default in zip(DEVICES, range(5000, 5005), strict=True):
        section = f'[devices.{name}]\nhost = "127.0.0.1"\nport = '
        text = text.replace(
            f"{section}{default}", f"{section}{ports[name]}\ntimeout_s = {DEVICE_TIMEOUT_S}"
        )
    text = re.sub(r"(?m)^(width|height) = \d+", r"\1 = 64", text)
    path = home / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def random_faults(rng: random.Random, length_s: float, every_s: float) -> list[dict[str, Any]]:
    """Scenario items: a fault every ``every_s`` on average, random device/kind/duration."""
    items, t = [], rng.uniform(60.0, every_s)
    while t < length_s - 600.0:
        kind = rng.choice(FAULT_KINDS)
        fault = {"device": rng.choice(DEVICES), "kind": kind, "duration": rng.uniform(30.0, 240.0)}
        if kind == "slow" and rng.random() < 0.5:
            fault["delay_s"] = rng.uniform(0.05, 0.5)  # slow but within the timeout
        items.append({"time": round(t, 3), "faultSimulator": fault})
        t += rng.expovariate(1.0 / every_s)
    return items


def soak_scenario(rng: random.Random, length_s: float) -> list[Any]:
    """Random faults, a rain episode and an afterglow."""
    items = random_faults(rng, length_s, every_s=240.0)
    rain_at, rain_s = length_s / 3, min(900.0, length_s / 4)
    for name, value in (("WXT520", 8.0), ("DRD11", 0)):
        key = "digital" if name == "DRD11" else "RainRate"
        items.append(
            {
                "time": rain_at,
                "plcSimulator": {"device_name": name, "value_name": key, "value": value},
            }
        )
    for name, value in (("WXT520", 0.0), ("DRD11", 1)):
        key = "digital" if name == "DRD11" else "RainRate"
        items.append(
            {
                "time": rain_at + rain_s,
                "plcSimulator": {"device_name": name, "value_name": key, "value": value},
            }
        )
    items.append(
        {
            "time": min(600.0, length_s / 2),
            "afterglowSimulator": {"ra_deg": 30.0, "dec_deg": 20.0, "magnitude": 15.0},
        }
    )
    return [length_s, *sorted(items, key=lambda i: i["time"])]


class Worker(threading.Thread):
    """Drives one device until stopped; counts what it sees."""

    def __init__(self, name: str, act, stop: threading.Event) -> None:
        super().__init__(name=f"soak-{name}", daemon=True)
        self.device, self.act, self.stop_event = name, act, stop
        self.ok = 0
        self.errors: Counter[str] = Counter()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.act()
                self.ok += 1
            except DeviceProblem as problem:
                self.errors[type(problem).__name__] += 1
                self.stop_event.wait(0.05)
            except Exception as exc:  # a bug in the workload itself must show
                self.errors[f"unexpected {type(exc).__name__}"] += 1
                self.stop_event.wait(0.05)


def _process_counts(process: psutil.Process) -> dict[str, int]:
    return {
        "fds": process.num_fds(),
        "tcp": len(process.net_connections(kind="tcp")),
        "threads": process.num_threads(),
    }


def run_soak(
    *, hours: float = 2.0, speed: float = 60.0, seed: int = 4, work_dir: Path
) -> dict[str, Any]:
    """Run the soak; returns its figures (``crashed``, ``leaks`` and the counts)."""
    rng = random.Random(seed)
    length_s = hours * 3600.0
    home = work_dir / "home"
    home.mkdir(parents=True)
    ports = {name: free_port() for name in DEVICES}
    site = _site(home, ports)
    scenario = work_dir / "soak.json"
    scenario.write_text(json.dumps(soak_scenario(rng, length_s)), encoding="utf-8")
    epoch = time.time() + 3.0  # the clock starts once everything is up
    clock_spec = f"sim:{START.isoformat()}@{speed:g}@{epoch:.6f}"
    env = {
        **os.environ,
        "PYROS_HOME": str(home),
        "PYROS_SITE_CONFIG": str(site),
        "PYROS_CLOCK": clock_spec,
    }
    env.pop("PYROS_DATABASE_URL", None)
    clock = parse_clock(clock_spec)
    config = load_config(site)
    log = (work_dir / "simulators.log").open("wb")
    process = subprocess.Popen(
        pyros_command("simulators", "start", "--scenario", str(scenario)),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stop = threading.Event()
    gateways: dict[str, Gateway] = {}
    links: list[GatewayLink] = []
    workers: list[Worker] = []
    live_faults: list[dict[str, Any]] = []
    figures: dict[str, Any] = {"hours": hours, "speed": speed, "seed": seed}
    try:
        deadline = time.monotonic() + 60
        while not (home / "run" / "simulators.json").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (work_dir / "simulators.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the simulators did not start ({process.poll()}):\n{tail}")
            time.sleep(0.05)
        for name in DEVICES:
            gateways[name] = Gateway(
                name,
                upstream=("127.0.0.1", ports[name]),
                listen=("127.0.0.1", 0),
                timing=GatewayTiming(
                    device_timeout_s=DEVICE_TIMEOUT_S,
                    reconnect_initial_s=0.02,
                    reconnect_max_s=0.5,
                    health_poll_s=1.0,
                ),
                clock=clock,
            ).start()

        def link(name: str) -> GatewayLink:
            made = GatewayLink(name, *gateways[name].address, LINK)
            links.append(made)
            return made

        mount = GatewayMount(link("mount"), config=config, clock=clock)
        dome = GatewayDome(link("dome"), config=config, clock=clock)
        plc = GatewayPlc(link("plc"), config=config, clock=clock)
        cameras = {
            name: GatewayCamera(link(name), config=config, clock=clock)
            for name in ("camera_vis", "camera_nir")
        }
        leases = {}

        def holding(controller, owner):
            def ensure():
                handle = leases.get(owner)
                if handle is None or handle.lost:
                    leases[owner] = controller.claim(owner, "routine")
                return leases[owner]

            return ensure

        mount_lease = holding(mount, "soak-mount")
        dome_lease = holding(dome, "soak-dome")
        camera_leases = {n: holding(c, f"soak-{n}") for n, c in cameras.items()}
        work_rng = random.Random(seed + 1)

        def mount_act():
            mount_lease()
            alt, az = work_rng.uniform(25, 85), work_rng.uniform(0, 360)
            mount.goto(*radec_deg(alt, az, clock.now(), config.site), wait=True)

        def dome_act():
            dome_lease()
            try:
                dome.open(wait=True)
            except DeviceProblem as problem:
                if problem.code != "limit":  # the rain interlock refusing is expected
                    raise
            clock.sleep(120.0)
            dome.close(wait=True)

        def camera_act(name):
            camera, wheel = cameras[name], cameras[name].filter_wheel

            def act():
                camera_leases[name]()
                wheel.set_filter(work_rng.choice(wheel.filters))
                camera.expose(work_rng.uniform(5, 60), work_rng.choice(["light", "dark"]))

            return act

        def plc_act():
            plc.status()
            clock.sleep(30.0)

        for name, act in (
            ("mount", mount_act),
            ("dome", dome_act),
            ("plc", plc_act),
            *((n, camera_act(n)) for n in cameras),
        ):
            workers.append(Worker(name, act, stop))
        # Warm up: every gateway connected, every worker going, then the baseline.
        for worker in workers:
            worker.start()
        time.sleep(3.0)
        ps = psutil.Process(process.pid)
        baseline = _process_counts(ps)
        started, wall_started = clock.now(), time.monotonic()
        end = started + timedelta(seconds=length_s)
        next_live = time.monotonic() + 5.0
        while clock.now() < end:
            if process.poll() is not None:
                break
            if time.monotonic() >= next_live:
                fault = {
                    "device": rng.choice(DEVICES),
                    "kind": rng.choice(FAULT_KINDS),
                    "duration_s": rng.uniform(30.0, 180.0),
                }
                if (clock.now() + timedelta(seconds=900)) < end:
                    reply = call(home / "run", "fault", **fault)
                    live_faults.append({**fault, "ok": reply.get("ok")})
                next_live = time.monotonic() + rng.uniform(5.0, 15.0)
            time.sleep(0.2)
        crashed = process.poll() is not None
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
        status = call(home / "run", "status") if not crashed else {}
        # Every fault is over: the gateways come back, connections settle.
        settle = time.monotonic() + 20
        while time.monotonic() < settle and not crashed:
            if all(g.health.snapshot()["connected"] for g in gateways.values()):
                break
            time.sleep(0.1)
        for handle in leases.values():
            handle.release()
        time.sleep(1.0)
        final = _process_counts(ps) if not crashed else {}
        figures.update(
            {
                "wall_seconds": round(time.monotonic() - wall_started, 1),
                "simulated_seconds": round((clock.now() - started).total_seconds(), 1),
                "crashed": crashed,
                "scenario_faults": sum(
                    1
                    for o in (status.get("scenario") or {}).get("outcomes", [])
                    if o["key"] == "faultSimulator"
                ),
                "live_faults": len(live_faults),
                "live_faults_refused": sum(1 for f in live_faults if not f["ok"]),
                "faults_in_force_at_end": len(status.get("faults", [])),
                "commands_ok": {w.device: w.ok for w in workers},
                "errors_seen": {w.device: dict(w.errors) for w in workers},
                "frames": {
                    n: d.get("frames", 0)
                    for n, d in status.get("devices", {}).items()
                    if n.startswith("camera")
                },
                "gateways_connected_at_end": sum(
                    1 for g in gateways.values() if g.health.snapshot()["connected"]
                ),
                "baseline": baseline,
                "final": final,
            }
        )
        figures["leaks"] = {
            key: final.get(key, 0) - baseline[key]
            for key in ("fds", "tcp", "threads")
            if final.get(key, 0) > baseline[key]
        }
        return figures
    finally:
        stop.set()
        for link_ in links:
            link_.close()
        for gateway in gateways.values():
            gateway.stop()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                figures["exit_code"] = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
                figures["exit_code"] = "killed"
        log.close()
