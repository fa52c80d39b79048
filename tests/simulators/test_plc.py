"""The PLC simulator: the seed's STATUS reply (plus SITE), the date from the clock, switches, and
the seed's rain scenario polled every second through a real gateway and the PLC controller."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest

from devices.controllers import GatewayPlc
from simulators import DATA_DIR
from simulators.plc import PlcValueError, seed_reply
from simulators.scenario import load_scenario

SEED_DEVICES = ("WXT520", "DRD11", "VantagePro", "MLX90614-1", "LAMP_FLAT_CAGIRE")


def _shape(devices: list[dict]) -> list[tuple]:
    """What must match the seed: every device and value but the values themselves."""
    return [
        (
            d["name"],
            d["type"],
            d["serial_number"],
            d["valid"],
            [(v["name"], v["unit"], v["comment"]) for v in d["values"]],
        )
        for d in devices
    ]


def test_bundled_copies_are_the_seed_files_unchanged(seed_dir):
    for name, bundled in (
        ("plc_status_reply.json", DATA_DIR / "plc_status_reply.json"),
        ("scenario_plc.json", DATA_DIR / "scenarios" / "scenario_plc.json"),
        ("conf.json", DATA_DIR / "scenarios" / "conf.json"),
        ("routine_request_01.xml", DATA_DIR / "requests" / "routine_request_01.xml"),
    ):
        assert bundled.read_bytes() == (seed_dir / name).read_bytes(), name


def test_the_seed_command_gets_the_seed_reply_with_site_and_the_clock_date(rig):
    bench = rig(speed=60.0)
    host, port = bench.observatory.plc.address
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b'{"command": [{"name": "STATUS"}]}\n')  # the seed's plc_status_command
        before = bench.clock.now()
        reply = json.loads(sock.makefile("rb").readline())
    after = bench.clock.now()
    seed = seed_reply()[0]
    assert isinstance(reply, list) and len(reply) == 1
    status = reply[0]
    assert list(status) == ["name", "from", "version_firmware", "site", "date", "device"]
    assert {k: status[k] for k in ("name", "from", "version_firmware", "site")} == {
        k: seed[k] for k in ("name", "from", "version_firmware", "site")
    }
    assert _shape(status["device"][:-1]) == _shape(seed["device"])
    assert [v["value"] for v in status["device"][0]["values"]] == [
        v["value"] for v in seed["device"][0]["values"]
    ]
    # The date is the clock's, in UTC, in the seed's form (seconds, no zone).
    assert len(status["date"]) == len(seed["date"]) == 19
    low = (before - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert low <= status["date"] <= after.strftime("%Y-%m-%dT%H:%M:%S")
    site = status["device"][-1]
    assert (site["name"], site["valid"]) == ("SITE", "yes")
    assert {v["name"]: v["value"] for v in site["values"]} == {
        "Shutter": "closed",
        "Door": "closed",
        "Intrusion": 0,
        "Lights": "off",
        "InsideTemp": 20.28,
        "InsideHumidity": 45.6,
    }


def test_switches_lights_lamp_and_the_shutter_show_in_status(rig):
    bench = rig(speed=600.0, gateways=("plc",))
    plc = GatewayPlc(bench.link("plc"), config=bench.config, clock=bench.clock)
    switches = plc.switches()
    assert switches == {
        "lights": False,
        "calibration_lamp": False,
        **{f"outlet_{i}": True for i in range(1, 9)},
    }
    status = plc.status()
    assert status.value("LAMP_FLAT_CAGIRE", "status").value == "off"
    with plc.claim("operator-test", "operator"):
        assert plc.lights(True)["lights"] is True
        assert plc.calibration_lamp(True)["calibration_lamp"] is True
        assert plc.outlet(3, False)["outlet_3"] is False
    status = plc.status()
    assert status.value("SITE", "Lights").value == "on"
    assert status.value("LAMP_FLAT_CAGIRE", "status").value == "on"
    assert status.value("LAMP_FLAT_CAGIRE", "current").value == pytest.approx(0.234)
    bench.device("dome").call("OPEN")
    assert plc.status().value("SITE", "Shutter").value == "opening"
    bench.clock.sleep(60.0)
    assert plc.status().value("SITE", "Shutter").value == "open"


def test_setting_values_names_what_is_wrong(rig):
    plc = rig(speed=60.0).observatory.plc
    assert plc.set_value("MLX90614-1", "SkyTemperature", 2.0) == -15.67
    assert plc.get_value("MLX90614-1", "SkyTemperature") == 2.0
    with pytest.raises(PlcValueError, match=r"no device 'WXT999'.*WXT520"):
        plc.set_value("WXT999", "RainRate", 1.0)
    with pytest.raises(PlcValueError, match=r"no value 'Rain'.*RainRate"):
        plc.set_value("WXT520", "Rain", 1.0)
    with pytest.raises(PlcValueError, match="follows the dome"):
        plc.set_value("SITE", "Shutter", "open")
    plc.set_valid("VantagePro", True)
    plc.set_value("VantagePro", "RainRate", 3.0)
    assert plc.rain_reason() == "VantagePro RainRate 3 mm/h"


def test_seed_rain_scenario_polled_every_second_through_the_gateway(rig):
    """The original documentation's log: RainRate 12.0 from t=3 to t<7, 0.0 before and after."""
    scenario = load_scenario(DATA_DIR / "scenarios" / "scenario_plc.json")
    bench = rig(speed=1.0, scenario=scenario, gateways=("plc",))
    plc = GatewayPlc(bench.link("plc"), config=bench.config, clock=bench.clock)
    origin = bench.run.player.at(0)
    log = []
    for second in range(int(scenario.length_s)):
        # Polls half-way between whole seconds: no poll races a change made at a whole second.
        bench.clock.sleep_until(origin + timedelta(seconds=second + 0.5))
        sent = (bench.clock.now() - origin).total_seconds()
        status = plc.status()
        answered = (bench.clock.now() - origin).total_seconds()
        rates = {
            station: status.value(station, "RainRate").value for station in ("WXT520", "VantagePro")
        }
        log.append((sent, answered, rates))
    assert len(log) == 10
    for sent, answered, rates in log:
        assert int(sent) == int(answered), f"a poll straddled a whole second: {sent}..{answered}"
        expected = 12.0 if 3 <= sent < 7 else 0.0
        assert rates == {"WXT520": expected, "VantagePro": expected}, (sent, rates)
    outcomes = bench.run.player.describe()["outcomes"]
    assert [(o["time_s"], o["status"]) for o in outcomes] == [
        (3.0, "done"),
        (3.0, "done"),
        (7.0, "done"),
        (7.0, "done"),
    ]


def test_every_seed_device_is_there(rig):
    plc = rig(speed=60.0).observatory.plc
    names = [d["name"] for d in plc.cmd_status()["device"]]
    assert names == [*SEED_DEVICES, "SITE"]
