"""``pyros schedule``: plan now, insert, show (JSON and tables), errors in one line."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli.main import main
from tests.support.requests import request_xml, sequence_xml


def _json(capsys) -> object:
    return json.loads(capsys.readouterr().out)


def test_plan_then_show_in_json_and_for_humans(engine, sim_clock, tmp_path: Path, capsys):
    assert main(["schedule", "show", "--json"]) == 0
    assert _json(capsys) is None
    assert main(["schedule", "show"]) == 0
    assert "no schedule yet" in capsys.readouterr().out

    path = tmp_path / "r.xml"
    path.write_text(
        request_xml(
            [
                sequence_xml("first", jd1="0", jd2="30000", extra='priority="2"'),
                sequence_xml("second", jd1="0", jd2="30000"),
                sequence_xml("late", jd1="200000", jd2="300000"),
            ]
        ),
        encoding="utf-8",
    )
    assert main(["request", "submit", str(path), "--json"]) == 0
    capsys.readouterr()
    assert main(["schedule", "plan", "--json", "--reason", "test"]) == 0
    planned = _json(capsys)
    assert planned["ok"] and planned["planned"] == 2 and planned["night"] == "2026-11-24"

    assert main(["schedule", "show", "--json"]) == 0
    shown = _json(capsys)
    assert shown["id"] == planned["schedule_id"] and shown["reason"] == "test"
    assert [e["name"] for e in shown["entries"]] == ["first", "second", "late"]
    assert shown["entries"][0]["start"] == "2026-11-25T02:00:00Z"
    assert shown["unplanned_by_reason"] == {"later-night": 1}
    assert shown["entries"][2]["state"] == "to-be-planned"  # waits for a later night

    assert main(["schedule", "show", "--all"]) == 0
    out = capsys.readouterr().out
    assert "first" in out and "left out: later-night 1" in out and "Left out" in out

    assert main(["schedule", "insert", str(shown["entries"][2]["sequence_id"]), "--json"]) == 0
    assert _json(capsys)["reason"].endswith("inserted")


def test_errors_are_one_line_with_the_exit_code(engine, sim_clock, capsys):
    assert main(["schedule", "insert", "4242"]) == 2
    assert capsys.readouterr().err.strip() == "pyros: sequence 4242: no such sequence"
    assert main(["schedule", "show", "--id", "77"]) == 2
    assert "schedule 77: no such schedule" in capsys.readouterr().err
