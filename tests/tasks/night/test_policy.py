"""The night policy: what to do next, in order of precedence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from infra.opmode import OperatingMode
from tasks.night.device_health import DeviceCondition, DeviceHealth, DeviceRole
from tasks.night.policy import NightState, NightWindows, PlannedEntry, decide
from tasks.night.vocabulary import NightAction

SUNSET = datetime(2026, 11, 25, 0, 50, tzinfo=UTC)
START = SUNSET + timedelta(minutes=50)
END = START + timedelta(hours=10)
WINDOWS = NightWindows(
    sunset=SUNSET,
    start=START,
    end=END,
    sunrise=END + timedelta(minutes=50),
    dusk_flats=(SUNSET + timedelta(minutes=5), SUNSET + timedelta(minutes=30)),
)
NIGHT = START + timedelta(hours=2)


def state(**changes) -> NightState:
    base = NightState(
        now=NIGHT,
        windows=WINDOWS,
        mode=OperatingMode.AUTO,
        weather_safe=True,
        dome_open=True,
        dome_requested_open=True,
        calibrations_done=frozenset({"evening-bias-dark", "dusk-flats"}),
        schedule=(
            PlannedEntry(7, NIGHT + timedelta(minutes=10), NIGHT + timedelta(minutes=30)),
            PlannedEntry(3, NIGHT - timedelta(seconds=30), NIGHT + timedelta(minutes=9)),
        ),
    )
    return replace(base, **changes)


def test_the_due_sequence_is_executed_then_the_next_is_waited_for():
    decision = decide(state())
    assert (decision.action, decision.sequence_id) == (NightAction.EXECUTE, 3)
    after = decide(state(now=NIGHT + timedelta(minutes=9, seconds=1), early_start_s=0))
    assert after.action is NightAction.WAIT and after.until == NIGHT + timedelta(minutes=10)
    # Within the early-start margin (60 s by default) the next sequence may begin at once.
    assert decide(state(now=NIGHT + timedelta(minutes=9, seconds=1))).action is NightAction.EXECUTE


def test_precedence_end_manual_replan_devices_weather_dome():
    assert decide(state(now=END)).action is NightAction.END
    assert decide(state(mode=OperatingMode.MANUAL)).reason.startswith("MANUAL")
    assert (
        decide(state(replan_needed=True, replan_reason="new request")).action is NightAction.REPLAN
    )
    assert (
        "devices: mount lost"
        in decide(state(devices_ok=False, devices_problem="mount lost")).reason
    )
    assert decide(state(dome_requested_open=False)).action is NightAction.REQUEST_OPEN
    unsafe = decide(state(weather_safe=False, dome_open=False))
    assert unsafe.action is NightAction.WAIT and "weather unsafe" in unsafe.reason
    closed = decide(state(dome_open=False))
    assert closed.action is NightAction.WAIT and "not open yet" in closed.reason
    assert decide(state(schedule=())).until == END


def test_the_evening_calibrates_then_opens_for_dusk_flats_then_waits_for_the_night():
    evening = state(
        now=SUNSET - timedelta(minutes=30),
        calibrations_done=frozenset(),
        dome_requested_open=False,
        dome_open=False,
    )
    assert (decide(evening).action, decide(evening).calibration) == (
        NightAction.CALIBRATE,
        "evening-bias-dark",
    )
    done_bias = replace(evening, calibrations_done=frozenset({"evening-bias-dark"}))
    assert decide(done_bias).action is NightAction.REQUEST_OPEN
    in_window = replace(done_bias, now=SUNSET + timedelta(minutes=10), dome_requested_open=True)
    assert decide(in_window).action is NightAction.WAIT  # dome not open yet
    opened = replace(in_window, dome_open=True)
    assert (decide(opened).action, decide(opened).calibration) == (
        NightAction.CALIBRATE,
        "dusk-flats",
    )
    flats_done = replace(opened, calibrations_done=frozenset({"evening-bias-dark", "dusk-flats"}))
    waiting = decide(flats_done)
    assert waiting.action is NightAction.WAIT and waiting.until == START


def test_a_site_without_dark_time_waits_forever():
    polar = state(windows=NightWindows(sunset=None, start=None, end=None, sunrise=None))
    assert decide(polar).action is NightAction.WAIT and decide(polar).until is None


def test_a_stale_verdict_waits_even_when_it_last_said_safe():
    stale = decide(state(weather_safe=True, weather_stale_s=95.0))
    assert stale.action is NightAction.WAIT
    assert stale.reason.startswith("weather verdict stale") and "95 s" in stale.reason
    # It does not outrank the operator or the end of the night.
    assert decide(state(weather_stale_s=95.0, mode=OperatingMode.MANUAL)).reason.startswith(
        "MANUAL"
    )
    assert decide(state(now=END, weather_stale_s=95.0)).action is NightAction.END


# --- device health (#24) -----------------------------------------------------------------------

VIS_LOST = DeviceHealth(
    "camera_vis",
    DeviceRole.CAMERA,
    DeviceCondition.LOST,
    "connection refused",
    NIGHT - timedelta(minutes=5),
    "Visible camera",
)
NIR_OK = DeviceHealth(
    "camera_nir", DeviceRole.CAMERA, DeviceCondition.OK, instrument="Infrared camera"
)
MOUNT_OK = DeviceHealth("mount", DeviceRole.MOUNT, DeviceCondition.OK)
MOUNT_FAULT = DeviceHealth("mount", DeviceRole.MOUNT, DeviceCondition.LOST, "mount reports a fault")
VIS, NIR = frozenset({"Visible camera"}), frozenset({"Infrared camera"})


def entries(first: frozenset[str], second: frozenset[str]) -> tuple[PlannedEntry, ...]:
    return (
        PlannedEntry(3, NIGHT - timedelta(seconds=30), NIGHT + timedelta(minutes=9), first),
        PlannedEntry(7, NIGHT + timedelta(minutes=10), NIGHT + timedelta(minutes=30), second),
    )


def test_a_lost_camera_re_plans_the_sequences_that_need_it_and_the_others_go_on():
    health = (MOUNT_OK, VIS_LOST, NIR_OK)
    stranded = decide(state(health=health, schedule=entries(NIR, VIS | NIR)))
    assert stranded.action is NightAction.REPLAN
    assert stranded.reason.startswith("Visible camera lost") and "sequence(s) 7" in stranded.reason
    # Once re-planned, what needs only the working camera runs.
    going_on = decide(state(health=health, schedule=entries(NIR, NIR)))
    assert (going_on.action, going_on.sequence_id) == (NightAction.EXECUTE, 3)
    # Sequences left out for the camera: no re-plan while it is lost, one when it is back.
    waiting = frozenset({VIS})
    assert decide(state(health=health, waiting_on=waiting)).action is NightAction.EXECUTE
    back = decide(state(health=(MOUNT_OK, NIR_OK), waiting_on=waiting))
    assert back.action is NightAction.REPLAN and back.reason.startswith("device back")


def test_a_lost_mount_closes_the_dome_holds_the_night_and_it_resumes_when_back():
    health = (MOUNT_FAULT, NIR_OK)
    close = decide(state(health=health))
    assert (close.action, close.device) == (NightAction.REQUEST_CLOSE, "mount")
    assert "mount reports a fault" in close.reason
    # Before the weather, the replan and the schedule: the night waits for the mount.
    held = decide(
        state(health=health, dome_requested_open=False, replan_needed=True, weather_safe=False)
    )
    assert (held.action, held.device) == (NightAction.WAIT, "mount")
    assert held.reason.startswith("the night waits for mount")
    resumed = decide(state(health=(MOUNT_OK, NIR_OK), dome_requested_open=False))
    assert (resumed.action, resumed.device) == (NightAction.REQUEST_OPEN, None)
    # Every camera lost holds the night too.
    nir_lost = replace(VIS_LOST, device="camera_nir", instrument="Infrared camera")
    assert decide(state(health=(MOUNT_OK, VIS_LOST, nir_lost))).device == "Infrared camera"


def test_a_re_plan_inserts_the_sequences_the_state_names_and_any_other_re_plans_fully():
    """#18 item 4: the decision carries the sequences to insert one by one (the alert's
    first); without them, and for a device's re-plan, the whole rest of the night is planned."""
    incremental = decide(
        state(
            replan_needed=True,
            replan_reason="1 interrupted sequence(s) to resume",
            to_insert=(12, 7),
        )
    )
    assert (incremental.action, incremental.insert) == (NightAction.REPLAN, (12, 7))
    full = decide(state(replan_needed=True, replan_reason="the weather is safe again"))
    assert (full.action, full.insert) == (NightAction.REPLAN, ())
    stranded = state(
        health=(MOUNT_OK, VIS_LOST, NIR_OK),
        schedule=entries(NIR, VIS | NIR),
        replan_needed=True,
        to_insert=(12,),
    )
    assert (decide(stranded).action, decide(stranded).insert) == (NightAction.REPLAN, ())


def test_the_night_waits_while_the_follow_up_holds_the_telescope_and_never_runs_its_sequences():
    """The alert-follow-up flow runs the alert's sequences under the alert's lease: the night
    keeps their time in its schedule, never executes them, and waits while the follow-up holds
    the telescope; a re-plan (inserting what the alert interrupted) still comes first."""
    held = decide(state(alert_holds="its sequence 40 is executing"))
    assert held.action is NightAction.WAIT and "alert follow-up has the telescope" in held.reason
    assert "sequence 40 is executing" in held.reason and not held.weather
    inserting = decide(state(alert_holds="x", replan_needed=True, to_insert=(3,)))
    assert (inserting.action, inserting.insert) == (NightAction.REPLAN, (3,))
    # Weather first: the block may end on it (the follow-up waits for the weather too).
    assert decide(state(alert_holds="x", weather_safe=False)).weather
    # The follow-up's sequence at the head of the schedule is not the night's: the next is.
    alert_first = (
        PlannedEntry(40, NIGHT - timedelta(minutes=1), NIGHT + timedelta(minutes=4)),
        PlannedEntry(3, NIGHT + timedelta(seconds=30), NIGHT + timedelta(minutes=9)),
    )
    after = decide(state(schedule=alert_first, follow_up=frozenset({40})))
    assert (after.action, after.sequence_id) == (NightAction.EXECUTE, 3)
    only_alert = decide(state(schedule=alert_first[:1], follow_up=frozenset({40})))
    assert only_alert.action is NightAction.WAIT and "nothing left" in only_alert.reason
