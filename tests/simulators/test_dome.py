"""The dome simulator: shutter travel times (1× and 60×), abort, and its own rain interlock — also
as a gateway sees it."""

from __future__ import annotations

import pytest

from devices.errors import DeviceError
from tests.simulators.conftest import site_config
from tests.simulators.timing import assert_duration, measure
from tests.support.waiting import eventually


def _until(dome, state: str, within_s: float = 30.0) -> dict:
    def reached() -> dict | None:
        status = dome.call("STATUS")
        return status if status["state"] == state else None

    return eventually(reached, within_s=within_s, what=f"dome {state}", every_s=0.002, retry_on=())


@pytest.mark.parametrize(("speed", "open_s", "close_s"), [(1.0, 2.0, 1.5), (60.0, 30.0, 40.0)])
def test_open_and_close_take_the_configured_time(rig, speed, open_s, close_s):
    config = site_config(sections={"dome": {"open_s": open_s, "close_s": close_s}})
    bench = rig(speed=speed, config=config)
    dome = bench.device("dome")

    def travel(command: str, start: str, final: str, expected: float):
        def attempt():
            if dome.call("STATUS")["state"] != start:
                dome.call("OPEN" if start == "open" else "CLOSE")
                _until(dome, start)
            return measure(
                dome, bench.clock, command, None, lambda s: s["state"] == final
            ), expected

        return attempt

    assert_duration(travel("OPEN", "closed", "open", open_s))
    assert dome.call("STATUS")["open_percent"] == 100.0
    assert_duration(travel("CLOSE", "open", "closed", close_s))
    assert dome.call("STATUS")["open_percent"] == 0.0


def test_abort_stops_the_shutter_where_it_is_and_a_reversal_starts_from_there(rig):
    bench = rig(speed=60.0, config=site_config(sections={"dome": {"open_s": 30.0}}))
    dome, clock = bench.device("dome"), bench.clock
    before = clock.now()
    assert dome.call("OPEN")["state"] == "opening"
    started = clock.now()
    clock.sleep(12.0)
    sent = clock.now()
    stopped = dome.call("ABORT")
    answered = clock.now()
    # The shutter stopped where it was at the abort: open_s / 100 seconds per percent.
    low = (sent - started).total_seconds() / 30.0 * 100.0
    high = (answered - before).total_seconds() / 30.0 * 100.0
    assert stopped["state"] == "stopped" and low <= stopped["open_percent"] <= high
    clock.sleep(30.0)
    later = dome.call("STATUS")
    assert (later["state"], later["open_percent"]) == ("stopped", stopped["open_percent"])
    assert dome.call("ABORT")["state"] == "stopped"  # idempotent
    # Closing from there takes that fraction of close_s (a repeat stops it part-way again).
    close_s = bench.config.dome.close_s

    def attempt():
        status = dome.call("STATUS")
        if status["state"] != "stopped":
            dome.call("OPEN")
            _until(dome, "open")
            dome.call("CLOSE")
            clock.sleep(close_s / 2)
            status = dome.call("ABORT")
        expected = status["open_percent"] / 100.0 * close_s
        return measure(dome, clock, "CLOSE", None, lambda s: s["state"] == "closed"), expected

    assert_duration(attempt)


def test_the_rain_interlock_refuses_to_open_and_never_closes_by_itself(rig):
    config = site_config(sections={"dome": {"open_s": 10.0, "close_s": 10.0}})
    bench = rig(speed=120.0, config=config, gateways=("dome",))
    plc = bench.observatory.plc
    dome = bench.gateway("dome")
    lease = dome.call("CLAIM", {"owner": "test", "priority": "operator"})
    envelope = {"owner": "test", "epoch": lease["epoch"]}
    plc.set_value("WXT520", "RainRate", 12.0)
    with pytest.raises(DeviceError) as refused:
        dome.call("OPEN", **envelope)
    assert refused.value.code == "limit"
    assert (
        "rain interlock" in refused.value.message and "WXT520 RainRate 12" in refused.value.message
    )
    # An invalid station does not count; DRD11's digital channel does.
    plc.set_value("WXT520", "RainRate", 0.0)
    plc.set_value("VantagePro", "RainRate", 12.0)  # VantagePro is "valid": "no" in the seed
    assert dome.call("OPEN", **envelope)["state"] == "opening"
    _until(dome, "open")
    plc.set_value("DRD11", "digital", 0)
    bench.clock.sleep(60.0)
    assert dome.call("STATUS")["state"] == "open"  # the interlock does not close: the monitor does
    sent = bench.clock.now()
    dome.call("CLOSE", **envelope)
    received, _wall = bench.observatory.dome.last_received["CLOSE"]
    assert sent <= received <= bench.clock.now()
    _until(dome, "closed")
    with pytest.raises(DeviceError, match="DRD11 digital channel reads rain"):
        dome.call("OPEN", **envelope)
    plc.set_value("DRD11", "digital", 1)
    assert dome.call("OPEN", **envelope)["state"] == "opening"
