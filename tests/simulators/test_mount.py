"""The mount simulator: slew durations from distance, rate and settling (1× and 60×), tracking,
the horizon limit, park, abort mid-slew — over real sockets, in simulated time."""

from __future__ import annotations

import pytest

from devices.astrometry import altaz_deg, radec_deg
from devices.errors import DeviceError
from simulators.geometry import separation_deg
from tests.simulators.timing import assert_duration, measure
from tests.support.waiting import eventually


def _moving(status: dict) -> bool:
    return status["state"] in ("slewing", "parking")


def _sky(rig, alt: float, az: float) -> tuple[float, float]:
    return radec_deg(alt, az, rig.clock.now(), rig.config.site)


def _settled(rig, client, what: str = "slew") -> dict:
    def ended() -> dict | None:
        status = client.call("STATUS")
        return None if _moving(status) else status

    return eventually(ended, within_s=30, what=f"end of the {what}", every_s=0.002, retry_on=())


@pytest.mark.parametrize(
    ("speed", "one", "other"),
    [
        (1.0, (84.0, 180.0), (80.0, 200.0)),  # ~7° near the zenith: ~2 s of wall time
        (60.0, (25.0, 80.0), (25.0, 280.0)),  # across the sky: ~17 s simulated
    ],
)
def test_slew_takes_distance_over_rate_plus_settling(rig, speed, one, other):
    bench = rig(speed=speed)
    mount = bench.device("mount")
    mount.call("GOTO", dict(zip(("ra_deg", "dec_deg"), _sky(bench, *one), strict=True)))
    _settled(bench, mount)
    settings = bench.config.mount
    targets = [other, one]

    def attempt():
        # Each attempt slews to the other point: no return trip between attempts.
        here = mount.call("STATUS")
        goal = _sky(bench, *targets[0])
        targets.reverse()
        distance = separation_deg((here["ra_deg"], here["dec_deg"]), goal)
        expected = distance / settings.slew_rate_deg_s + settings.settle_s
        result = measure(
            mount,
            bench.clock,
            "GOTO",
            {"ra_deg": goal[0], "dec_deg": goal[1]},
            lambda s: s["state"] == "tracking",
        )
        return result, expected

    assert_duration(attempt)


def test_default_mount_crosses_the_sky_in_about_20_s(rig):
    settings = rig(speed=600.0).config.mount
    assert 18.0 <= 180.0 / settings.slew_rate_deg_s + settings.settle_s <= 25.0


def test_tracking_follows_the_sky_and_park_returns_to_the_park_position(rig):
    bench = rig(speed=3600.0)
    mount = bench.device("mount")
    parked = mount.call("STATUS")
    assert parked["state"] == "parked" and parked["tracking"] is False
    assert parked["alt_deg"] == pytest.approx(bench.config.mount.park_alt_deg, abs=1e-6)
    target = _sky(bench, 50.0, 120.0)
    reply = mount.call("GOTO", {"ra_deg": target[0], "dec_deg": target[1]})
    # STATUS shows the slew before the accepted reply is sent: the reply already says slewing.
    assert reply["state"] == "slewing" and reply["target"]["ra_deg"] == pytest.approx(target[0])
    tracking = _settled(bench, mount)
    assert tracking["state"] == "tracking" and tracking["tracking"] is True
    assert separation_deg((tracking["ra_deg"], tracking["dec_deg"]), target) < 1e-6
    # Ten simulated minutes later it still points at the same RA/Dec, at another alt/az.
    bench.clock.sleep(600.0)
    later = mount.call("STATUS")
    assert separation_deg((later["ra_deg"], later["dec_deg"]), target) < 1e-6
    assert abs(later["az_deg"] - tracking["az_deg"]) > 0.5
    # Tracking off: the alt/az stays, the sky drifts.
    idle = mount.call("TRACKING", {"on": False})
    assert idle["state"] == "idle" and idle["tracking"] is False
    bench.clock.sleep(300.0)
    drifted = mount.call("STATUS")
    assert drifted["alt_deg"] == pytest.approx(idle["alt_deg"], abs=1e-4)
    assert separation_deg((drifted["ra_deg"], drifted["dec_deg"]), target) > 0.5
    assert mount.call("PARK")["state"] == "parking"
    parked = _settled(bench, mount, "park")
    assert parked["state"] == "parked" and parked["alt_deg"] == pytest.approx(90.0, abs=1e-6)


def test_goto_below_the_horizon_limit_is_refused_with_limit(rig):
    bench = rig(speed=60.0)
    mount = bench.device("mount")
    low = _sky(bench, bench.config.limits.horizon_deg - 2.0, 200.0)
    with pytest.raises(DeviceError) as refused:
        mount.call("GOTO", {"ra_deg": low[0], "dec_deg": low[1]})
    assert refused.value.code == "limit" and "below the horizon limit" in refused.value.message
    assert mount.call("STATUS")["state"] == "parked"


def test_abort_mid_slew_stops_between_start_and_target(rig):
    bench = rig(speed=10.0)
    mount = bench.device("mount")
    start = mount.call("STATUS")
    goal = _sky(bench, 20.0, 270.0)
    mount.call("GOTO", {"ra_deg": goal[0], "dec_deg": goal[1]})
    bench.clock.sleep(3.0)
    stopped = mount.call("ABORT")
    assert stopped["state"] == "idle" and stopped["tracking"] is False
    assert stopped["target"] is None
    here = (stopped["ra_deg"], stopped["dec_deg"])
    origin = (start["ra_deg"], start["dec_deg"])
    whole = separation_deg(origin, goal)
    assert 5.0 < separation_deg(origin, here) < whole - 5.0
    # It stays stopped (no slew resumes), and ABORT again is harmless.
    bench.clock.sleep(8.0)
    assert mount.call("STATUS")["state"] == "idle"
    assert mount.call("ABORT")["state"] == "idle"


def test_a_tracked_target_setting_below_the_limit_stops_the_mount(rig):
    bench = rig(speed=3600.0)
    mount = bench.device("mount")
    horizon = bench.config.limits.horizon_deg
    setting = _sky(bench, horizon + 3.0, 270.0)  # in the west: sets within ~15 minutes
    mount.call("GOTO", {"ra_deg": setting[0], "dec_deg": setting[1]})
    _settled(bench, mount)
    bench.clock.sleep(1800.0)
    status = mount.call("STATUS")
    assert status["state"] == "idle" and not status["tracking"]
    alt, _ = altaz_deg(status["ra_deg"], status["dec_deg"], bench.clock.now(), bench.config.site)
    assert alt < horizon


def test_tracking_refused_while_slewing(rig):
    bench = rig(speed=5.0)
    mount = bench.device("mount")
    goal = _sky(bench, 30.0, 90.0)
    mount.call("GOTO", {"ra_deg": goal[0], "dec_deg": goal[1]})
    with pytest.raises(DeviceError) as busy:
        mount.call("TRACKING", {"on": True})
    assert busy.value.code == "busy"
