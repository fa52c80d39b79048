"""The ``pyros`` command line: JSON output, exit codes, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli.main import main
from tests.support.cli import run_pyros
from tests.support.requests import request_xml, sequence_xml


def _json(capsys) -> object:
    return json.loads(capsys.readouterr().out)


def test_submit_list_show_round_trip_in_json(engine, sim_clock, tmp_path: Path, capsys):
    path = tmp_path / "two.xml"
    path.write_text(request_xml([sequence_xml("a"), sequence_xml("b")]), encoding="utf-8")
    assert main(["request", "submit", str(path), "--json"]) == 0
    submitted = _json(capsys)
    assert submitted["ok"] is True and submitted["sequences"] == 2

    assert main(["request", "list", "--json"]) == 0
    (listed,) = _json(capsys)
    assert listed["id"] == submitted["request_id"]
    assert listed["states"] == {"to-be-planned": 2}

    assert main(["request", "show", str(submitted["request_id"]), "--json"]) == 0
    shown = _json(capsys)
    assert [s["name"] for s in shown["sequences"]] == ["a", "b"]
    assert shown["sequences"][0]["albums"][0]["plans"][0]["images_done"] == 0
    assert shown["sequences"][0]["transitions"][0]["to"] == "to-be-planned"

    assert main(["request", "show", "999", "--json"]) == 2
    assert "no such request" in capsys.readouterr().err


def test_db_init_is_idempotent_and_mode_is_journaled(engine, capsys):
    assert main(["db", "init", "--json"]) == 0
    assert _json(capsys)["created"] == []  # the template already holds the defaults
    assert main(["mode", "MANUAL", "--by", "tester"]) == 0
    assert "MANUAL" in capsys.readouterr().out
    assert main(["mode", "sideways"]) == 2
    assert "'sideways' is not AUTO or MANUAL" in capsys.readouterr().err
    assert main(["journal", "list", "--kind", "operator", "--json"]) == 0
    (entry,) = _json(capsys)
    assert entry["payload"] == {"command": "mode", "mode": "MANUAL"}
    assert entry["source"] == "tester"


def test_commands_needing_the_database_say_so_when_it_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PYROS_DATABASE_URL", f"sqlite:///{tmp_path / 'never-initialised.db'}")
    assert main(["request", "list"]) == 3
    assert "is not initialised: run `pyros db init`" in capsys.readouterr().err


def test_a_bad_site_configuration_is_one_line(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "site.toml"
    bad.write_text("[site]\nname = 'x'\n", encoding="utf-8")
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "limits: Field required" in err


def test_the_installed_command_exits_cleanly_without_a_traceback(engine, tmp_path: Path):
    """As an operator types it: a separate process, stderr one line, exit code 2."""
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = run_pyros("request", "submit", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"pyros: {bad}:1: file: not UTF-8 text (invalid byte at offset 0)"
    ]
    assert "Traceback" not in result.stderr
