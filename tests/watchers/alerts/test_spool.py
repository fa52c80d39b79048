"""The listener's spool: durable writes, the index of keys and bytes, done and pruned entries."""

from __future__ import annotations

import hashlib

import pytest

from watchers.alerts.killswitch import KillSwitch
from watchers.alerts.spool import Spool, SpoolEntry


def test_write_is_durable_and_indexed(tmp_path):
    spool = Spool(tmp_path)
    entry = spool.write(b"<packet/>", "kafka", "kafka:t:0:7")
    assert (tmp_path / "new" / entry.name).read_bytes() == b"<packet/>"
    assert entry.road == "kafka" and entry.key == "kafka:t:0:7"
    assert spool.has_key("kafka:t:0:7") and not spool.has_key("kafka:t:0:8")
    assert spool.has_sha(hashlib.sha256(b"<packet/>").hexdigest())
    assert [e.name for e in spool.pending()] == [entry.name]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_new_spool_remembers_what_the_last_one_wrote(tmp_path):
    first = Spool(tmp_path)
    done = first.write(b"a", "drop", "drop:a.xml:1")
    first.write(b"b", "comet")
    first.mark_done(done)
    (tmp_path / "tmp" / "half-written").write_bytes(b"x")  # a crash mid-write
    again = Spool(tmp_path)
    assert again.has_key("drop:a.xml:1")
    assert again.has_sha(hashlib.sha256(b"b").hexdigest())
    assert [e.road for e in again.pending()] == ["comet"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_entries_are_ordered_and_marked_done(tmp_path):
    spool = Spool(tmp_path)
    entries = [spool.write(bytes([i]), "comet") for i in range(5)]
    assert spool.pending() == sorted(entries, key=lambda e: e.name)
    for entry in entries[:3]:
        spool.mark_done(entry)
    spool.mark_done(entries[3], failed=True)
    assert spool.pending() == entries[4:]
    assert spool.read(entries[0]) is None
    assert len(list((tmp_path / "failed").iterdir())) == 1
    assert spool.prune(0.0) == 3


def test_names_parse_back():
    entry = SpoolEntry.parse("00000000000000000001@drop@abc@drop:x.xml:1.voe")
    assert entry is not None and (entry.road, entry.key) == ("drop", "drop:x.xml:1")
    assert SpoolEntry.parse("stray.txt") is None
    assert SpoolEntry.parse("x@y.voe") is None


def test_kill_switch_parses_and_refuses_unknown_points():
    assert KillSwitch.from_env({}).point is None
    switch = KillSwitch.from_env({"PYROS_ALERT_LISTENER_KILL_AT": "decided:3"})
    assert (switch.point, switch.n) == ("decided", 3)
    switch("received")  # another point: nothing happens
    with pytest.raises(ValueError, match="unknown kill point"):
        KillSwitch.from_env({"PYROS_ALERT_LISTENER_KILL_AT": "nowhere"})
    with pytest.raises(ValueError, match="point"):
        KillSwitch.from_env({"PYROS_ALERT_LISTENER_KILL_AT": "decided:x"})
