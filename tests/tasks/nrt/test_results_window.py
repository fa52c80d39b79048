"""The NRT results artifact's content stays the size of its window, with the run's totals."""

from __future__ import annotations

import pytest

from tasks.nrt.results_window import ResultsWindow, table_row


def _done(image_id: str, candidates: int = 0) -> dict:
    found = [
        {"kind": "new", "ra": 10.0, "dec": -5.0, "mag": 17.0 + i, "snr": 9.0 - i}
        for i in range(candidates)
    ]
    return {"image_id": image_id, "status": "done", "n_sources": 40, "candidates": found}


def test_the_window_keeps_the_latest_frames_newest_first_and_counts_them_all():
    window = ResultsWindow(3)
    for index in range(10):
        window.add(_done(f"IMG-{index}", candidates=index % 2))
    window.add({"image_id": "BAD", "status": "failed", "reason": "FILTER is missing"})
    assert [row["image"] for row in window.rows()] == ["BAD", "IMG-9", "IMG-8"]
    assert (window.frames, window.done, window.failed, window.candidates) == (11, 10, 1, 5)
    description = window.description()
    assert "10 frame(s) analysed, 1 failed, 5 candidate(s)" in description
    assert "the latest 3 of 11 frame(s)" in description


def test_a_row_names_the_best_candidate_and_links_the_preview():
    row = table_row(_done("IMG-1", candidates=2), "http://127.0.0.1:8280/previews/IMG-1.png")
    assert row["candidates"] == 2 and row["best_candidate"].startswith("new 10.00000 -5.00000")
    assert "SNR 9.0" in row["best_candidate"]
    assert row["preview"] == "http://127.0.0.1:8280/previews/IMG-1.png"
    assert (
        table_row(_done("IMG-2"))["preview"] == ""
        and table_row(_done("IMG-2"))["best_candidate"] is None
    )


def test_an_empty_window_is_refused():
    with pytest.raises(ValueError, match="at least one frame"):
        ResultsWindow(0)
