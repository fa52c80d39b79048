"""The unsafe episodes the environment artifact lists: opened by an unsafe verdict, gathering the
elements that called for closing, closed by the safe verdict, bounded in time and number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.environment.episodes import EpisodeLog, UnsafeEpisode, episodes_markdown

T0 = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_rain_shower_is_one_episode_with_its_elements_and_its_end():
    log = EpisodeLog()
    log.update(False, "starting: waiting for the hold time", [], at(0))
    log.update(True, "every element good for 60 s", [], at(1))
    log.update(True, "every element good for 70 s", [], at(2))
    log.update(False, "rain YES 5 mm/h", ["rain"], at(45))
    log.update(False, "rain YES 6 mm/h; wind YES 20 m/s", ["rain", "wind"], at(46))
    log.update(False, "good for 30 s of the 60 s hold time", [], at(55))
    log.update(True, "every element good for 60 s", [], at(56))

    startup, shower = log.episodes
    assert startup == UnsafeEpisode(at(0), "starting: waiting for the hold time", (), at(1))
    assert shower == UnsafeEpisode(at(45), "rain YES 5 mm/h", ("rain", "wind"), at(56))
    table = "\n".join(episodes_markdown(log.episodes))
    assert table.index("2026-12-05 01:45:00 | 2026-12-05 01:56:00 | rain, wind") < table.index(
        "2026-12-05 01:00:00"
    )  # newest first


def test_an_episode_still_open_says_so_and_old_ones_are_forgotten():
    log = EpisodeLog(keep=timedelta(hours=2), limit=3)
    for hour in range(5):  # five short showers, one an hour
        log.update(False, f"rain {hour}", ["rain"], at(60 * hour))
        log.update(True, "good", [], at(60 * hour + 10))
    log.update(False, "wind", ["wind"], at(300))
    assert [e.reason for e in log.episodes] == ["rain 3", "rain 4", "wind"]
    assert log.episodes[-1].end is None
    assert "| still unsafe | wind | wind |" in "\n".join(episodes_markdown(log.episodes))
    assert episodes_markdown([]) == ["**Unsafe episodes (last 24 h):** none."]


def test_an_episode_log_keeps_at_least_one():
    with pytest.raises(ValueError, match="at least one"):
        EpisodeLog(limit=0)
