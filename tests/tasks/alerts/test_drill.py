"""The fake-alert drill's notice: the bundled notice moved to a position observable now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

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


def test_a_large_box_drill_is_a_fermi_gbm_burst_tiled_by_the_wide_strategy():
    config = load_config()
    notice = drill_notice(config, NIGHT, error_deg=0.8)
    assert notice.observable and "Fermi#GBM_Fin_Pos" in notice.ivorn
    decision = evaluate(notice.raw, NIGHT, InMemoryHistory(), config)
    assert (decision.decision, decision.mission, decision.strategy) == (
        "follow-up", "Fermi", "gbm-gecam-wide")  # fmt: skip
    assert decision.ra_deg == notice.ra_deg and decision.error_radius_deg == 0.8
    assert decision.tiles > 1
    # A 3 deg box: its 36 most probable tiles, with the share of the probability they hold.
    partial = evaluate(drill_notice(config, NIGHT, error_deg=3.0).raw, NIGHT, InMemoryHistory(),
                       config)  # fmt: skip
    assert (partial.decision, partial.tiles) == ("follow-up", 36), partial.reason
    assert "the 36 most probable of" in partial.reason and "of the probability" in partial.reason
    # Beyond what the site's strategies cover (5 deg): decided, with the reason.
    wide = evaluate(drill_notice(config, NIGHT, error_deg=6.0).raw, NIGHT, InMemoryHistory(),
                    config)  # fmt: skip
    assert wide.decision != "follow-up" and "larger than the strategy can cover" in wide.reason
    with pytest.raises(ValueError, match="error radius"):
        drill_notice(config, NIGHT, error_deg=0.0)
