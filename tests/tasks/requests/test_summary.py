"""The request artifact's content (issue #23): one word for a request, and its Markdown."""

from __future__ import annotations

from tasks.requests.summary import artifact_key, request_state, summary_markdown


def test_one_word_for_a_request():
    assert request_state(True, ["planned"]) == "cancelled"
    assert request_state(False, ["executed", "cancelled"]) == "done"
    assert request_state(False, ["executed", "executing", "planned"]) == "executing"
    assert request_state(False, ["to-be-planned", "planned"]) == "planned"
    assert request_state(False, ["to-be-planned", "unplannable"]) == "waiting"
    assert request_state(False, []) == "waiting"
    assert artifact_key(12) == "request-12"


def test_the_markdown_escapes_cells_and_says_what_is_missing():
    summary = {
        "request_id": 3,
        "name": "a|b",
        "user": "olga",
        "program": None,
        "submitted_at": "2026-11-24T20:00:00Z",
        "state": "waiting",
        "cancelled_at": None,
        "cancel_reason": None,
        "sequences": [{"id": 7, "name": "x|y", "state": "to-be-planned", "reason": ""}],
        "images": [],
    }
    text = summary_markdown(summary)
    assert "| 7 | x\\|y | to-be-planned | - |" in text
    assert "(program -)" in text and "0 image(s)." in text and "| image |" not in text
