"""The camera simulators: exposure, readout and filter-move times (1× and 60×), real frames from
the sky renderer (pointing from the mount, dome and lamp honoured, afterglows), abort, refusals,
and a whole exposure through a gateway and the camera controller."""

from __future__ import annotations

from pathlib import Path

import pytest
from astropy.io import fits

from devices.astrometry import radec_deg
from devices.controllers import GatewayCamera
from devices.errors import DeviceError
from simulators.observatory import Observatory
from simulators.sky import Afterglow, read_truth
from tests.simulators.conftest import frames_in, site_config
from tests.simulators.timing import assert_duration, measure
from tests.support.waiting import eventually


def _idle_with(camera, frame_id: str, within_s: float = 30.0) -> dict:
    def written() -> dict | None:
        status = camera.call("STATUS")
        return status if _done(frame_id)(status) else None

    return eventually(
        written, within_s=within_s, what=f"frame {frame_id} written", every_s=0.002, retry_on=()
    )


def _done(frame_id: str):
    def check(status: dict) -> bool:
        return (
            status["state"] == "idle" and (status["last_frame"] or {}).get("frame_id") == frame_id
        )

    return check


@pytest.mark.parametrize(("speed", "exposure_s", "readout_s"), [(1.0, 1.0, 0.5), (60.0, 60.0, 6.0)])
def test_exposure_lasts_exposure_plus_readout(rig, speed, exposure_s, readout_s):
    bench = rig(speed=speed, config=site_config(readout_s=readout_s))
    camera = bench.device("camera_vis")
    counter = iter(range(100))

    def attempt():
        frame_id = f"timing-{next(counter)}"
        args = {"exposure_s": exposure_s, "image_type": "light", "frame_id": frame_id}
        return measure(camera, bench.clock, "EXPOSE", args, _done(frame_id)), exposure_s + readout_s

    assert_duration(attempt)
    frame = camera.call("STATUS")["last_frame"]
    assert Path(frame["path"]).is_file() and Path(frame["truth_path"]).is_file()


def test_filter_move_takes_the_configured_time_and_none_when_in_place(rig):
    bench = rig(speed=1.0, config=site_config(filter_move_s=0.5))
    camera = bench.device("camera_nir")
    wheel = iter(["H", "J"] * 4)

    def attempt():
        target = next(wheel)
        done = measure(
            camera,
            bench.clock,
            "SET_FILTER",
            {"filter": target},
            lambda s, t=target: s["state"] == "idle" and s["filter"] == t,
        )
        return done, 0.5

    assert_duration(attempt)
    here = camera.call("STATUS")["filter"]
    assert camera.call("SET_FILTER", {"filter": here})["state"] == "idle"  # no move


def test_a_light_frame_is_a_real_fits_frame_at_the_mount_pointing(rig, tmp_path):
    bench = rig(speed=600.0, config=site_config(frame_px=128))
    mount, camera = bench.device("mount"), bench.device("camera_vis")
    ra, dec = radec_deg(60.0, 150.0, bench.clock.now(), bench.config.site)
    mount.call("GOTO", {"ra_deg": ra, "dec_deg": dec})
    bench.device("dome").call("OPEN")
    camera.call("SET_FILTER", {"filter": "r"})
    bench.clock.sleep(60.0)
    here = mount.call("STATUS")
    assert here["state"] == "tracking" and bench.device("dome").call("STATUS")["state"] == "open"
    target = tmp_path / "out" / "S1-P1-I1.fits"
    reply = camera.call(
        "EXPOSE",
        {"exposure_s": 30.0, "image_type": "light", "frame_id": "S1-P1-I1", "path": str(target)},
    )
    assert reply["state"] == "exposing" and reply["path"] == str(target)
    assert reply["exposure"]["frame_id"] == "S1-P1-I1"
    frame = _idle_with(camera, "S1-P1-I1")["last_frame"]
    assert frame["path"] == str(target) and frame["filter"] == "r"
    with fits.open(target) as hdul:
        hdul.verify("exception")
        header = hdul[0].header
        assert hdul[0].data.shape == (128, 128)
    assert (header["EXPTIME"], header["FILTER"], header["IMAGETYP"]) == (30.0, "r", "light")
    assert header["IMAGEID"] == "S1-P1-I1" and header["INSTRUME"] == "Visible camera"
    assert header["RA"] == pytest.approx(here["ra_deg"], abs=1e-4)
    assert header["DEC"] == pytest.approx(here["dec_deg"], abs=1e-4)
    assert header["DATE-OBS"].startswith(frame["started_at"][:19])
    truth = read_truth(target)
    assert truth.meta["conditions"]["sky_e_per_pixel"] > 0
    assert truth.meta["frame"]["exposure_s"] == 30.0
    # Nothing but the frame and its truth: the staging files are gone.
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "S1-P1-I1.fits",
        "S1-P1-I1.truth.ecsv",
    ]


def test_a_closed_dome_gives_a_dark_sky_and_the_lamp_makes_dome_flats(rig):
    bench = rig(speed=600.0)
    camera = bench.device("camera_vis")
    camera.call("SET_FILTER", {"filter": "r"})
    bench.clock.sleep(5.0)
    camera.call("EXPOSE", {"exposure_s": 30.0, "image_type": "light", "frame_id": "closed"})
    closed = read_truth(_idle_with(camera, "closed")["last_frame"]["path"])
    assert "conditions" not in closed.meta  # no sky light at all
    assert not any(kind == "star" for kind in closed["kind"])
    bench.device("plc").call("SWITCH", {"switch": "calibration_lamp", "on": True})
    camera.call("EXPOSE", {"exposure_s": 5.0, "image_type": "flat", "frame_id": "flat"})
    flat = read_truth(_idle_with(camera, "flat")["last_frame"]["path"])
    assert flat.meta["frame"]["flat_source"] == "dome"


def test_an_afterglow_in_the_field_is_rendered(rig):
    # 512 px (3.2'): the true pointing is off the commanded one by the configured 1'.
    bench = rig(speed=600.0, config=site_config(frame_px=512))
    bench.device("dome").call("OPEN")
    camera = bench.device("camera_vis")
    bench.clock.sleep(60.0)
    ra, dec = bench.observatory.pointing()
    bench.observatory.add_afterglow(
        Afterglow(ra, dec, bench.clock.now(), mag_t0=14.0, alpha=1.2, name="GRB-test")
    )
    camera.call("EXPOSE", {"exposure_s": 10.0, "image_type": "light", "frame_id": "grb"})
    truth = read_truth(_idle_with(camera, "grb")["last_frame"]["path"])
    rows = truth[truth["kind"] == "afterglow"]
    assert len(rows) == 1 and rows[0]["name"] == "GRB-test" and rows[0]["in_frame"]


def test_abort_discards_the_exposure_and_leaves_no_file(rig):
    bench = rig(speed=60.0)
    camera = bench.device("camera_vis")
    reply = camera.call("EXPOSE", {"exposure_s": 60.0, "image_type": "dark", "frame_id": "gone"})
    with pytest.raises(DeviceError) as busy:
        camera.call("EXPOSE", {"exposure_s": 1.0, "image_type": "dark"})
    assert busy.value.code == "busy"
    bench.clock.sleep(10.0)
    stopped = camera.call("ABORT")
    assert stopped["state"] == "idle" and stopped["exposure"] is None
    assert camera.call("ABORT")["state"] == "idle"  # idempotent
    bench.clock.sleep(70.0)
    status = camera.call("STATUS")
    assert status["state"] == "idle" and status["last_frame"] is None
    folder = Path(reply["path"]).parent
    assert not folder.exists() or list(folder.iterdir()) == []


def test_refusals_name_the_problem(rig):
    bench = rig(speed=60.0)
    camera = bench.device("camera_nir")
    cases = [
        ("SET_FILTER", {"filter": "r"}, "no filter 'r' in the wheel"),
        ("EXPOSE", {"exposure_s": 2.0, "image_type": "bias"}, "a bias has no exposure time"),
        ("EXPOSE", {"exposure_s": 2.0, "image_type": "dark", "path": "rel.fits"}, "absolute"),
        ("EXPOSE", {"exposure_s": -1.0, "image_type": "dark"}, "exposure_s must be >= 0"),
    ]
    for name, args, words in cases:
        with pytest.raises(DeviceError) as refused:
            camera.call(name, args)
        assert refused.value.code == "bad_argument" and words in refused.value.message


def test_frames_go_under_pyros_home_by_default(tmp_path, monkeypatch):
    from infra.clock import SystemClock

    monkeypatch.setenv("PYROS_HOME", str(tmp_path / "home"))
    config = site_config(readout_s=0.0)
    ports = dict.fromkeys(("mount", "camera_vis", "camera_nir", "plc", "dome"), 0)
    with Observatory(config, clock=SystemClock(), ports=ports) as observatory:
        camera = observatory.cameras["camera_nir"]
        from devices.client import NdjsonClient

        with NdjsonClient(*camera.address, name="camera_nir") as client:
            reply = client.call("EXPOSE", {"exposure_s": 0.0, "image_type": "bias"})
            _idle_with(client, reply["frame_id"])
    frames = frames_in(tmp_path / "home" / "frames")
    assert [p.parent.parent.name for p in frames] == ["camera_nir"]
    assert frames[0].name == f"{reply['frame_id']}.fits"


def test_an_exposure_through_the_gateway_and_the_camera_controller(rig, tmp_path):
    bench = rig(speed=120.0, gateways=("camera_vis",))
    camera = GatewayCamera(bench.link("camera_vis"), config=bench.config, clock=bench.clock)
    with camera.claim("flow/test", "routine"):
        assert camera.filter_wheel.set_filter("g") == "g"
        frame = camera.expose(
            20.0, "dark", frame_id="S7-P1-I1", path=tmp_path / "via-gateway" / "S7-P1-I1.fits"
        )
    assert frame.frame_id == "S7-P1-I1" and frame.filter == "g" and Path(frame.path).is_file()
    with fits.open(frame.path) as hdul:
        assert hdul[0].header["IMAGETYP"] == "dark" and hdul[0].header["EXPTIME"] == 20.0
