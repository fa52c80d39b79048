"""The reflex's decision (pure): precedence, targets, first filters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from infra.config import load_config
from infra.opmode import OperatingMode
from tasks.alerts.decision import AlertDecision, DecisionKind, FollowUpAction
from tasks.alerts.reflex import (
    ReflexAction,
    ReflexState,
    decide_reflex,
    first_filters,
    owner_for,
)

NOW = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)
FOLLOW = AlertDecision(
    "ivo://x/y#1",
    DecisionKind.FOLLOW_UP,
    "observable now",
    burst_key="swift:876016",
    strategy="swift-bat",
    ra_deg=10.0,
    dec_deg=20.0,
    window=(NOW, NOW + timedelta(hours=12)),
)
AUTO, MANUAL = OperatingMode.AUTO, OperatingMode.MANUAL


def plan(decision=FOLLOW, *, mode=AUTO, safe=True, now=NOW, target=None):
    return decide_reflex(ReflexState(decision, now, mode, safe, target), load_config())


def test_a_follow_up_in_auto_with_safe_weather_slews_with_the_first_filters():
    result = plan()
    assert result.action is ReflexAction.SLEW and result.moves and result.announces
    assert (result.ra_deg, result.dec_deg) == (10.0, 20.0)
    assert result.owner == owner_for("swift:876016") == "alert:swift:876016"
    assert result.filters == first_filters(load_config(), "swift-bat")
    assert result.filters == {"Visible camera": "r", "Infrared camera": "J"}


def test_the_first_tile_is_the_target_when_given():
    assert (plan(target=(11.0, 21.0)).ra_deg, plan(target=(11.0, 21.0)).dec_deg) == (11.0, 21.0)


@pytest.mark.parametrize(
    ("decision", "mode", "safe", "now", "expected"),
    [
        # 1. a withdrawal releases, even in MANUAL mode and unsafe weather
        (replace(FOLLOW, decision=DecisionKind.IGNORED, action=FollowUpAction.CANCEL), MANUAL,
         False, NOW, ReflexAction.RELEASE),
        # 2. MANUAL before everything that would move
        (FOLLOW, MANUAL, False, NOW, ReflexAction.MANUAL),
        (replace(FOLLOW, decision=DecisionKind.IGNORED, reason="MANUAL mode: would be follow-up",
                 details={"attention": True}), MANUAL, True, NOW, ReflexAction.MANUAL),
        # 3. not a follow-up
        (replace(FOLLOW, decision=DecisionKind.NOT_OBSERVABLE), AUTO, True, NOW,
         ReflexAction.NONE),
        (replace(FOLLOW, decision=DecisionKind.DUPLICATE), AUTO, True, NOW, ReflexAction.NONE),
        # 4. no position
        (replace(FOLLOW, ra_deg=None), AUTO, True, NOW, ReflexAction.NONE),
        # 5. the window is over (before the weather: nothing to wait for)
        (FOLLOW, AUTO, False, NOW + timedelta(hours=13), ReflexAction.NONE),
        # 6. unsafe weather: wait, announced
        (FOLLOW, AUTO, False, NOW, ReflexAction.WAIT_WEATHER),
        (replace(FOLLOW, action=FollowUpAction.REPOINT), AUTO, False, NOW,
         ReflexAction.WAIT_WEATHER),
        # 7. a re-point moves the mount only
        (replace(FOLLOW, action=FollowUpAction.REPOINT), AUTO, True, NOW, ReflexAction.REPOINT),
    ],
)  # fmt: skip
def test_precedence(decision, mode, safe, now, expected):
    result = plan(decision, mode=mode, safe=safe, now=now)
    assert result.action is expected, result.reason
    assert result.moves == (expected in (ReflexAction.SLEW, ReflexAction.REPOINT))


def test_nothing_moves_and_nothing_is_announced_in_manual_mode():
    result = plan(mode=MANUAL)
    assert not result.moves and not result.announces and "MANUAL" in result.reason


def test_a_re_point_keeps_the_cameras():
    result = plan(replace(FOLLOW, action=FollowUpAction.REPOINT))
    assert result.filters == {} and result.owner == "alert:swift:876016"


def test_an_unknown_strategy_has_no_filters():
    assert first_filters(load_config(), "nope") == {}
