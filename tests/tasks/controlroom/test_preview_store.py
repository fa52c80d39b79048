"""The previews directory: written whole, newest first, the newest ``keep`` kept, safe names."""

from __future__ import annotations

import os

from tasks.controlroom.preview_store import (
    latest_previews,
    preview_file,
    preview_name,
    prune,
    store_preview,
)


def _store(directory, image_id, when, **kwargs):
    stored = store_preview(directory, image_id, b"\x89PNG " + image_id.encode(), **kwargs)
    # Order by the note's time, not by how fast the test writes.
    for suffix in (".png", ".json"):
        os.utime((directory / stored.name).with_suffix(suffix), (when, when))
    note = (directory / stored.name).with_suffix(".json")
    note.write_text(note.read_text().replace(str(stored.written), str(when)))
    return stored


def test_previews_are_listed_newest_first_with_their_notes(tmp_path):
    _store(tmp_path, "IMG-1", 100.0, candidates=0)
    _store(tmp_path, "IMG-2", 200.0, candidates=3)
    found = latest_previews(tmp_path)
    assert [(p.image_id, p.candidates) for p in found] == [("IMG-2", 3), ("IMG-1", 0)]
    assert found[0].url("http://127.0.0.1:8280") == "http://127.0.0.1:8280/previews/IMG-2.png"
    assert preview_file(tmp_path, "latest.png") == tmp_path / "IMG-2.png"


def test_only_the_newest_keep_previews_stay(tmp_path):
    for index in range(5):
        _store(tmp_path, f"IMG-{index}", 100.0 + index)
    assert prune(tmp_path, 2) == ["IMG-2.png", "IMG-1.png", "IMG-0.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "IMG-3.json",
        "IMG-3.png",
        "IMG-4.json",
        "IMG-4.png",
    ]


def test_store_prunes_as_it_writes(tmp_path):
    for index in range(4):
        store_preview(tmp_path, f"IMG-{index}", b"png", keep=3)
    assert len(latest_previews(tmp_path)) == 3
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_names_are_safe_and_only_previews_are_found(tmp_path):
    assert preview_name("../../etc/passwd") == "_.._etc_passwd.png"
    assert preview_name("a b/c") == "a_b_c.png"
    (tmp_path / "site.toml").write_text("secret")
    assert preview_file(tmp_path, "../site.toml") is None
    assert preview_file(tmp_path, "site.toml") is None
    assert preview_file(tmp_path, "nothing.png") is None
    assert preview_file(tmp_path, "latest.png") is None
    assert latest_previews(tmp_path / "absent") == []
