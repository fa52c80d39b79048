"""A short night on the system clock through the real stack (``pyros up``: Prefect server and
worker, gateways, environment monitor) with the mount, dome and cameras on INDI's simulators.

INDI's simulators run in real time, so this night runs on the system clock: the site is moved to
the longitude where it is local midnight now (computed from the current UTC time), which puts the
test in the dark night whenever it runs; everything else is the bundled site's. The night's own
deployments run it: ``execute-night`` (one block) until two sequences are executed, then
``end-of-night`` (no dawn flats) parks the mount and has the dome closed; docs/devices.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from astropy.io import fits
from sqlalchemy import func, select

from devices.astrometry import radec_deg
from infra.config import load_config
from infra.db import session_scope
from infra.db.models import Image, Sequence
from tasks.night.images import sha256_of
from tasks.scheduling.night_times import night_to_plan
from tests.support.cli import pyros_command
from tests.support.databases import only_on
from tests.support.indi import IndiServer, indi_missing
from tests.support.indi_night import (
    IndiWatch,
    dark_longitude,
    indi_props,
    moon_azimuth,
    write_indi_stack_site,
)
from tests.support.requests import plan_xml, request_xml, sequence_xml
from tests.support.stack_site import write_site_with_free_ports

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(indi_missing() is not None, reason=str(indi_missing())),
]
#: Longest wall wait for the two sequences (the dome opens, the slews, the frames).
SEQUENCES_WAIT_S = 600.0
CLOSED = "Dome Simulator.DOME_SHUTTER.SHUTTER_CLOSE"
PARKED = "Telescope Simulator.TELESCOPE_PARK.PARK"


def _prefect(instance, code: str, timeout: float = 900) -> str:
    env = {**instance.env, "PREFECT_API_URL": f"http://127.0.0.1:{instance.prefect_port}/api"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout.strip().splitlines()[-1]


def _run(instance, name: str, parameters: dict, timeout: float) -> str:
    """Run deployment ``name`` with ``parameters``; its final state (``timeout`` 0: its id)."""
    return _prefect(
        instance,
        f"""
from prefect.deployments import run_deployment
run = run_deployment("{name}/{name}", parameters={parameters!r}, timeout={timeout})
print(run.id if {timeout} == 0 else run.state.type.value)
""",
    )


def _plc_simulator(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """PyROS's PLC simulator (INDI's weather simulator has no humidity or dew point, so alone it
    never lets the safety synthesis say safe): the simulators of a site file of their own."""
    home = tmp_path / "plc-home"
    home.mkdir()
    ports = write_site_with_free_ports(home / "site.toml", frame_px=64)
    env = {**os.environ, "PYROS_HOME": str(home)}
    env.pop("PYROS_SITE_CONFIG", None)
    process = subprocess.Popen(
        pyros_command("simulators", "start"),
        env=env,
        stdout=(home / "simulators.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, ports.devices["plc"]


def _targets(config, now: datetime) -> list[tuple[float, float]]:
    """Two positions high in the sky now, on the side of the sky away from the Moon."""
    away = moon_azimuth(now, config.site.latitude_deg, config.site.longitude_deg) + 180.0
    return [
        radec_deg(70.0, (away - 20.0) % 360.0, now, config.site),
        radec_deg(62.0, (away + 25.0) % 360.0, now, config.site),
    ]


def _request(targets: list[tuple[float, float]]) -> str:
    sequences = [
        sequence_xml(
            f"indi-night-{filter_name}",
            coords=f"{ra:.4f} {dec:.4f}",
            duration="120",
            plans=plan_xml(filter_name, "1", "2", filter_name),
        )
        for filter_name, (ra, dec) in zip(("g", "r"), targets, strict=True)
    ]
    return request_xml(sequences, target_type="sidereal", name="indi night")


#: What an operator does to cut the night short (the UI's Cancel): the running block and the
#: next one it scheduled, and the analysis beside it.
CANCEL_BLOCKS = """
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.states import Cancelled, Cancelling
with get_client(sync_client=True) as c:
    names = DeploymentFilterName(any_=["execute-night", "nrt-analysis"])
    for run in c.read_flow_runs(deployment_filter=DeploymentFilter(name=names)):
        if run.state.is_running():
            c.set_flow_run_state(run.id, Cancelling(), force=True)
        elif not run.state.is_final():
            c.set_flow_run_state(run.id, Cancelled(), force=True)
print("cancelled")
"""
RUN_STATES = """
import json
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as c:
    names = {d.id: d.name for d in c.read_deployments()}
    print(json.dumps([[names.get(r.deployment_id), r.state.type.value, r.state.message]
                      for r in c.read_flow_runs(limit=200)]))
"""


def _executed(engine) -> int:
    with session_scope(engine) as session:
        count = session.scalar(
            select(func.count()).select_from(Sequence).where(Sequence.state == "executed")
        )
    return int(count or 0)


@only_on("sqlite")
@pytest.mark.timeout(1500)
def test_a_short_night_on_the_indi_simulators(instance, engine, tmp_path):
    now = datetime.now(UTC)
    longitude = dark_longitude(now)
    plc, plc_port = _plc_simulator(tmp_path)
    watch: IndiWatch | None = None
    try:
        with (
            IndiServer() as indi,
            IndiServer(("indi_simulator_ccd", "indi_simulator_wheel")) as nir,
        ):
            site = instance.home / "site.toml"
            ports = write_indi_stack_site(site, indi.port, nir.port, plc_port, longitude)
            instance.prefect_port = ports.prefect
            config = load_config(site)
            night = night_to_plan(now, config)
            label = night.label
            assert night.start is not None and night.start <= now  # the dark night, now
            status = json.loads(instance.pyros("up", "--json").stdout)
            assert status["phase"] == "running"
            assert "simulators" not in {p["name"] for p in status["processes"]}
            targets = _targets(config, datetime.now(UTC))
            assert _run(instance, "submit-request", {"xml": _request(targets)}, 240) == (
                "COMPLETED"
            )
            watch = IndiWatch(indi.port)
            watch.start()  # from now on, what the INDI simulators say is sampled
            _run(instance, "execute-night", {"night": label}, 0)
            deadline = time.monotonic() + SEQUENCES_WAIT_S
            while _executed(engine) < 2 and time.monotonic() < deadline:
                time.sleep(2.0)
            assert _executed(engine) >= 2, (instance.home / "logs").as_posix()
            # The night is cut short here: its block is cancelled, end-of-night parks and closes.
            _prefect(instance, CANCEL_BLOCKS)
            state = _run(instance, "end-of-night", {"night": label, "dawn_flats": False}, 600)
            assert state == "COMPLETED"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                closed = indi_props(indi.port, CLOSED)
                if closed.get(CLOSED) == "On":
                    break
                time.sleep(1.0)
            parked = indi_props(indi.port, PARKED)
            runs = json.loads(_prefect(instance, RUN_STATES))
    finally:
        try:
            if watch is not None:
                watch.stop()
            instance.pyros("down", check=False, timeout=120)
        finally:
            plc.terminate()
            plc.wait(timeout=30)
    print(
        f"night {label} at longitude {longitude:.2f}: runs {runs}; shutter open "
        f"{watch.shutter_open[:1]} then {watch.shutter_open[-1:]}, "
        f"wheel slots {sorted(watch.slots)}, {len(watch.pointings)} mount readings"
    )
    assert not [run for run in runs if run[1] in ("FAILED", "CRASHED")], runs
    # The dome opened for the night and was closed at its end, by the INDI dome simulator's word.
    assert watch.shutter_open[0] is False and True in watch.shutter_open
    assert closed.get(CLOSED) == "On" and parked.get(PARKED) == "On"
    # The INDI telescope pointed at both targets (JNow vs ICRS and tracking: within a degree).
    for ra, dec in targets:
        assert any(abs(r - ra) < 1.0 and abs(d - dec) < 1.0 for r, d in watch.pointings), (
            ra, dec, watch.pointings[-5:],
        )  # fmt: skip
    filters = config.instruments[0].filters
    # The INDI wheel went to g's slot and to r's (INDI counts slots from 1).
    assert {filters.index("g") + 1.0, filters.index("r") + 1.0} <= watch.slots
    with session_scope(engine) as session:
        images = session.scalars(select(Image).order_by(Image.acquired_at)).all()
        rows = [(i.filter, i.path, i.sha256, i.id) for i in images]
    assert {r[0] for r in rows} == {"g", "r"} and len(rows) >= 4
    for filter_name, path, digest, image_id in rows:
        assert sha256_of(Path(path))[0] == digest
        with fits.open(path) as hdul:
            header = hdul[0].header
            assert header["FILTER"] == filter_name and header["IMAGEID"] == image_id
            assert header["INSTRUME"] == config.instruments[0].name
            assert header["XBINNING"] == 2  # the INDI CCD simulator's own card
        Path(path).unlink()
