"""The fake-alert drill's notice: the bundled notice moved to a position observable now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from infra.config import load_config
from tasks.alerts.drill import drill_notice
from tasks.alerts.evaluate import evaluate
from tasks.alerts.identity import InMemoryHistory

NIGHT = datetime(2026, 11, 25, 2, 0, 0, tzinfo=UTC)  # night at the default site
DAY = datetime(2026, 11, 25, 14, 0, 0, tzinfo=UTC)


def test_at_night_the_drill_is_a_new_burst_followed_up_now():
    config = load_config()
    history = InMemoryHistory()
    first = drill_notice(config, NIGHT)
    assert first.observable and first.altitude_deg > 60
    decision = evaluate(first.raw, NIGHT, history, config)
    assert (decision.decision, decision.ivorn) == ("follow-up", first.ivorn)
    assert decision.mission == "Swift"
    later = drill_notice(config, NIGHT + timedelta(seconds=30))
    assert later.ivorn != first.ivorn  # a burst of its own, not an update of the first
    assert evaluate(later.raw, NIGHT + timedelta(seconds=30), history, config).decision == (
        "follow-up"
    )


def test_in_daytime_the_drill_is_decided_not_observable_with_the_daylight_reason():
    config = load_config()
    notice = drill_notice(config, DAY)
    assert not notice.observable and notice.reason.startswith("daylight")
    decision = evaluate(notice.raw, DAY, InMemoryHistory(), config)
    assert decision.decision == "not-observable" and "daylight" in decision.reason
