"""The environment synthesis on the seed's PLC reply and variations of it."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from infra.config import load_config
from tasks.environment.elements import ElementState
from tasks.environment.plc import PlcReplyError, parse_status_reply
from tasks.environment.synthesis import Override, PlcPoll, stale_after_for, synthesize

SAFETY = load_config().safety
PLC_DATE = datetime(2017, 3, 3, 13, 45, tzinfo=UTC)


@pytest.fixture
def reply(seed_dir) -> list:
    return json.loads((seed_dir / "plc_status_reply.json").read_text(encoding="utf-8"))


def _set(reply: list, device: str, value: str, number, valid: str | None = None) -> list:
    changed = copy.deepcopy(reply)
    for item in changed[0]["device"]:
        if item["name"] == device:
            if valid is not None:
                item["valid"] = valid
            for entry in item["values"]:
                if entry["name"] == value:
                    entry["value"] = number
                    return changed
            item["values"].append({"name": value, "value": number, "unit": "", "comment": ""})
            return changed
    changed[0]["device"].append(
        {
            "name": device,
            "type": "site",
            "valid": valid or "yes",
            "values": [{"name": value, "value": number, "unit": ""}],
        }
    )
    return changed


def _synth(reply, *, now=PLC_DATE, received=PLC_DATE, night=True, overrides=None):
    return synthesize(
        PlcPoll(parse_status_reply(reply), received),
        now=now,
        safety=SAFETY,
        is_night=night,
        overrides=overrides,
    )


def test_the_seed_reply_is_safe_and_reads_like_the_original(reply):
    synthesis = _synth(reply)
    assert synthesis.weather_status == "OK" and not synthesis.should_close
    assert synthesis.record("rain").line() == "Rain = 0 mm/h; it is dry; close = NO"
    # DRD11's analog 2.345 V would mean rain by its comment: the digital channel decides.
    assert synthesis.record("rain").sources == ("WXT520", "DRD11")
    # VantagePro is flagged invalid in the seed: its values never count.
    assert "VantagePro" not in synthesis.record("wind").sources
    assert synthesis.record("sky temperature").state is ElementState.GOOD


def test_rain_rate_above_threshold_is_raining(reply):
    synthesis = _synth(_set(reply, "WXT520", "RainRate", 12.0))
    assert synthesis.weather_status == "RAINING" and synthesis.should_close
    assert synthesis.record("rain").line() == "Rain = 12 mm/h; it rains hard; close = YES"


def test_drd11_digital_zero_is_rain_even_with_zero_rates(reply):
    synthesis = _synth(_set(reply, "DRD11", "digital", 0))
    assert synthesis.weather_status == "RAINING"


def test_an_invalid_station_saying_rain_is_stored_but_ignored(reply):
    synthesis = _synth(_set(reply, "VantagePro", "RainRate", 12.0))
    assert synthesis.weather_status == "OK"


@pytest.mark.parametrize(
    ("device", "value", "number", "status"),
    [
        ("WXT520", "WindSpeed", 22.0, "WINDY"),
        ("WXT520", "OutsideHumidity", 95.0, "HUMID"),
        ("WXT520", "DewPoint", 11.5, "DEW"),
        ("WXT520", "OutsideTemp", 40.0, "TEMPERATURE"),
        ("MLX90614-1", "SkyTemperature", 2.0, "CLOUDY"),
    ],
)
def test_each_threshold_gives_its_status(reply, device, value, number, status):
    synthesis = _synth(_set(reply, device, value, number))
    assert synthesis.weather_status == status
    assert synthesis.should_close == (status != "CLOUDY")


def test_no_valid_station_is_an_error_that_closes(reply):
    broken = _set(
        _set(reply, "WXT520", "RainRate", 0.0, valid="no"), "DRD11", "digital", 1, valid="no"
    )
    synthesis = _synth(broken)
    assert synthesis.weather_status == "ERROR" and synthesis.should_close
    assert synthesis.record("rain").state is ElementState.ERROR


def test_stale_plc_date_and_stale_reception_are_errors(reply):
    later = PLC_DATE + timedelta(seconds=SAFETY.stale_after_s + 5)
    frozen = _synth(reply, now=later, received=later)
    assert frozen.weather_status == "ERROR" and frozen.should_close
    assert "the PLC's date is 15 s old" in frozen.record("rain").interpretation
    late = _synth(
        reply,
        now=PLC_DATE + timedelta(seconds=1),
        received=PLC_DATE - timedelta(seconds=SAFETY.stale_after_s + 1),
    )
    assert late.should_close and "last reply received" in late.reasons[0]


def test_unreachable_plc_is_an_error():
    synthesis = synthesize(
        PlcPoll(None, error="connection refused"),
        now=PLC_DATE,
        safety=SAFETY,
        is_night=True,
    )
    assert synthesis.should_close and synthesis.weather_status == "ERROR"
    assert "connection refused" in synthesis.reasons[0]


@pytest.mark.parametrize(
    "bad",
    [
        {},
        [],
        [{"name": "STATUS"}],
        [{"name": "STATUS", "device": 3}],
        [{"name": "STATUS", "device": [], "date": "yesterday"}],
        [{"name": "STATUS", "device": [{"values": []}], "date": "x"}],
    ],
)
def test_malformed_replies_raise_a_named_error(bad):
    with pytest.raises(PlcReplyError):
        parse_status_reply(bad)


def test_site_alarms_close_at_night_only(reply):
    door = _set(reply, "SITE", "Door", "open")
    assert _synth(door).site_status == "DOOR_OPEN" and _synth(door).should_close
    assert not _synth(door, night=False).should_close
    intruder = _set(reply, "SITE", "Intrusion", 1)
    assert _synth(intruder, night=False).site_status == "INTRUSION"
    lights = _set(reply, "SITE", "Lights", "on")
    assert _synth(lights).site_status == "LIGHTS_ON" and not _synth(lights).should_close


def test_overrides_are_visible_and_expire(reply):
    until = PLC_DATE + timedelta(minutes=30)
    forced = _synth(reply, overrides=[Override("*", until, "ana", "drill")])
    assert forced.weather_status == "OVERRIDE" and forced.should_close
    assert forced.overrides == (
        f"dome forced closed by ana until {until:%Y-%m-%d %H:%M:%S}Z: drill",
    )
    windy = _set(reply, "WXT520", "WindSpeed", 22.0)
    ignored = _synth(windy, overrides=[Override("wind", until, "ana", "anemometer stuck")])
    assert (
        not ignored.should_close and "wind ignored by ana" in ignored.record("wind").interpretation
    )
    expired = _synth(
        windy,
        now=until + timedelta(seconds=1),
        received=until,
        overrides=[Override("wind", until, "ana", "anemometer stuck")],
    )
    assert expired.should_close and expired.overrides == ()


def test_a_fast_clock_allows_a_wall_second_of_lateness_before_a_reading_is_stale(reply):
    """At 60x a 0.25 s hiccup of a loaded machine is 15 simulated seconds: not stale; two wall
    seconds (120 s) still are. At speed 1 the site's own limit stands."""
    assert stale_after_for(SAFETY, 1.0) == SAFETY.stale_after_s
    limit = stale_after_for(SAFETY, 60.0)
    assert limit == 60.0
    hiccup = PLC_DATE + timedelta(seconds=15)
    fresh = synthesize(
        PlcPoll(parse_status_reply(reply), hiccup), now=hiccup, safety=SAFETY, is_night=True,
        stale_after_s=limit,
    )  # fmt: skip
    assert not fresh.should_close, fresh.reasons
    dead = PLC_DATE + timedelta(seconds=120)
    stale = synthesize(
        PlcPoll(parse_status_reply(reply), dead), now=dead, safety=SAFETY, is_night=True,
        stale_after_s=limit,
    )  # fmt: skip
    assert stale.should_close and "the PLC's date is 120 s old" in stale.reasons[0]
