"""The policy on the pure path (in-memory history): identity, re-pointing, withdrawals, windows,
validity, roles and MANUAL mode. Positions and times are real sky computations at the site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.alerts.evaluate import evaluate
from tasks.alerts.identity import InMemoryHistory
from tasks.alerts.visibility import Sky
from tests.support.voevents import FERMI_LONG, SWIFT, SWIFT_LOST_LOCK, variant

SWIFT_IVORN = "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_876016-475"
ISSUED = datetime(2018, 12, 13, 12, 58, 42, tzinfo=UTC)  # the Swift notice's Who/Date
EVENT = datetime(2018, 12, 13, 12, 57, 38, 430000, tzinfo=UTC)
ARCMIN = 1.0 / 60.0


@pytest.fixture
def history(config) -> InMemoryHistory:
    return InMemoryHistory(config.alerts.match_window_s)


def swift_update(raw: bytes, n: int, *, dra_arcmin=0.0, error=0.002, minutes=2, **changes):
    """A later Swift notice of the same trigger (like an XRT position)."""
    return variant(
        raw,
        ivorn=f"ivo://nasa.gsfc.gcn/SWIFT#XRT_Position_876016-{n}",
        ra=248.2071 + dra_arcmin * ARCMIN / 0.19937,  # cos(78.5044 deg) = 0.19937
        error=error,
        date=ISSUED + timedelta(minutes=minutes),
        **changes,
    )


def test_a_better_position_re_points_a_small_move_or_a_worse_one_does_not(
    voevents, history, config
):
    raw = voevents[SWIFT]
    first = evaluate(raw, ISSUED, history, config)
    assert (first.decision, first.action, first.request_id) == ("follow-up", "none", -1)

    moved = evaluate(
        swift_update(raw, 1, dra_arcmin=3.0), ISSUED + timedelta(minutes=2), history, config
    )
    assert (moved.decision, moved.action) == ("follow-up", "re-point")
    assert moved.cancelled_request_id == first.request_id and moved.request_id == -2
    assert "moved 3.00 arcmin" in moved.reason and moved.burst_key == "Swift:876016"

    small = evaluate(
        swift_update(raw, 2, dra_arcmin=3.4, error=0.001),
        ISSUED + timedelta(minutes=3),
        history,
        config,
    )
    assert (small.decision, small.action, small.request_id) == ("ignored", "none", -2)
    assert "moved 0.40 arcmin (threshold 1)" in small.reason and "continues" in small.reason

    worse = evaluate(
        swift_update(raw, 3, dra_arcmin=9.0, error=0.05),
        ISSUED + timedelta(minutes=4),
        history,
        config,
    )
    assert worse.decision == "ignored" and "less precise" in worse.reason


def test_a_retraction_or_a_lost_lock_cancels_the_follow_up_of_its_burst(voevents, history, config):
    raw = voevents[SWIFT]
    first = evaluate(raw, ISSUED, history, config)
    retraction = variant(
        raw,
        ivorn="ivo://nasa.gsfc.gcn/SWIFT#Retraction_876016-1",
        params={"TrigID": "999999"},  # found by the citation, not by the trigger
        date=ISSUED + timedelta(minutes=5),
        citations=[(SWIFT_IVORN, "retraction")],
    )
    cancelled = evaluate(retraction, ISSUED + timedelta(minutes=5), history, config)
    assert (cancelled.decision, cancelled.action) == ("ignored", "cancel")
    assert cancelled.cancelled_request_id == first.request_id
    assert cancelled.reason.startswith("retraction: follow-up request -1 of burst Swift:876016")
    later = evaluate(
        swift_update(raw, 4, dra_arcmin=5.0), ISSUED + timedelta(minutes=6), history, config
    )
    assert later.decision == "ignored" and "was withdrawn" in later.reason

    other = InMemoryHistory(config.alerts.match_window_s)
    evaluate(raw, ISSUED, other, config)
    lost = variant(
        voevents[SWIFT_LOST_LOCK],
        ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_876016-999",
        params={"TrigID": "876016"},
        date=ISSUED + timedelta(minutes=1),
        event_time=EVENT,
    )
    lock = evaluate(lost, ISSUED + timedelta(minutes=1), other, config)
    assert (lock.decision, lock.action) == ("ignored", "cancel")
    assert "star tracker lost lock" in lock.reason


def test_bursts_match_across_missions_by_time_and_box_but_never_across_two_triggers(
    voevents, history, config
):
    fermi = variant(
        voevents[FERMI_LONG],
        ivorn="ivo://nasa.gsfc.gcn/Fermi#GBM_Flt_Pos_test-1",
        ra=248.2071 + 1.5,  # 0.3 deg away on the sky at this declination
        dec=78.5044,
        error=1.0,
        event_time=EVENT - timedelta(seconds=4),
        date=ISSUED - timedelta(seconds=30),
    )
    wide = evaluate(fermi, ISSUED - timedelta(seconds=30), history, config)
    assert (wide.decision, wide.strategy, wide.tiles) == ("follow-up", "gbm-gecam-wide", 32)
    swift = evaluate(voevents[SWIFT], ISSUED, history, config)
    assert (swift.decision, swift.action, swift.strategy) == ("follow-up", "re-point", "swift-bat")
    assert swift.burst_key == wide.burst_key == "Fermi:624500874"
    assert swift.cancelled_request_id == wide.request_id

    other = variant(
        voevents[SWIFT],
        ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_876017-1",
        params={"TrigID": "876017"},
        date=ISSUED + timedelta(seconds=20),
    )
    second = evaluate(other, ISSUED + timedelta(seconds=20), history, config)
    assert second.burst_key == "Swift:876017" and second.action == "none"


def test_a_later_window_is_scheduled_while_the_burst_is_worth_it(voevents, history, config):
    event = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # daylight at San Pedro Mártir
    raw = variant(
        voevents[SWIFT],
        ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_2000001-1",
        params={"TrigID": "2000001"},
        ra=30.0,
        dec=40.0,
        event_time=event,
        date=event + timedelta(minutes=1),
    )
    decision = evaluate(raw, event + timedelta(minutes=1), history, config)
    assert decision.decision == "not-observable" and decision.request_id == -1
    assert (
        decision.reason.startswith("daylight") and "scheduled for 2026-11-25T01:" in decision.reason
    )
    start, end = decision.window
    sky, step = Sky(config), timedelta(seconds=config.alerts.window_step_s)
    assert (
        sky.now(30.0, 40.0, start).observable and not sky.now(30.0, 40.0, start - step).observable
    )
    assert sky.now(30.0, 40.0, end).observable and end <= event + timedelta(hours=12)

    expired = evaluate(
        variant(raw, ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_2000001-2"),
        event + timedelta(hours=13),
        InMemoryHistory(),
        config,
    )
    assert expired.decision == "ignored" and expired.reason.startswith(
        "expired: the burst is 13.0 h"
    )


def test_roles_test_mode_and_manual_mode(voevents, history, config):
    test_packet = variant(voevents[SWIFT], role="test")
    assert "test packet (role=test)" in evaluate(test_packet, ISSUED, history, config).reason
    rehearsal = config.model_copy(
        update={"alerts": config.alerts.model_copy(update={"test_mode": True})}
    )
    assert evaluate(test_packet, ISSUED, InMemoryHistory(), rehearsal).decision == "follow-up"
    utility = variant(voevents[SWIFT], role="utility", ivorn="ivo://nasa.gsfc.gcn/SWIFT#u-1")
    assert "utility packet" in evaluate(utility, ISSUED, history, config).reason

    held = evaluate(voevents[SWIFT], ISSUED, InMemoryHistory(), config, manual=True)
    assert (held.decision, held.action, held.request_id) == ("ignored", "none", None)
    assert held.reason.startswith("MANUAL mode: would be follow-up (observable now")


def test_the_same_ivorn_is_a_duplicate_whatever_its_bytes(voevents, history, config):
    raw = voevents[SWIFT]
    first = evaluate(raw, ISSUED, history, config)
    again = evaluate(raw.replace(b"GRB 181213", b"GRB 181213 (resent)"), ISSUED, history, config)
    assert (again.decision, again.request_id) == ("duplicate", first.request_id)
    assert again.reason == f"IVORN already handled as alert {first.alert_id} (follow-up)"
