"""The follow-up's coverage in words, from the followed alert's details."""

from __future__ import annotations

from tasks.alerts.followup_rows import coverage_words


def test_a_partly_tiled_box_says_how_many_of_how_many_and_the_probability():
    details = {"tiles": 36, "tiles_needed": 216, "probability_covered": 0.1963}
    assert coverage_words(details) == (
        "the most probable 36 of 216 tiles, 20% of the burst's probability"
    )


def test_a_wholly_tiled_box_says_all_and_one_pointing_says_nothing():
    assert coverage_words({"tiles": 9, "tiles_needed": 9, "probability_covered": 0.8}) == (
        "all tiles, 80% of the burst's probability"
    )
    assert coverage_words({"tiles": 1, "tiles_needed": 1, "probability_covered": 0.9}) == ""
    # Alerts stored before the figure existed: nothing is invented.
    assert coverage_words({"tiles": 32}) == "" and coverage_words(None) == ""
