"""``pyros alert``: one JSON object for every outcome, exit codes, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app, main
from tests.support.cli import run_pyros
from tests.support.voevents import SWIFT, VOEVENT_DIR


@pytest.fixture
def voevents() -> None:
    if not (VOEVENT_DIR / SWIFT).is_file():
        pytest.skip(f"real VOEvents absent: {VOEVENT_DIR} (they are never copied into the repo)")


def _one_object(capsys) -> tuple[dict, str]:
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1, captured.out
    return json.loads(captured.out), captured.err


def test_rejected_packets_and_unreadable_files_exit_2_with_one_json_object(
    engine, tmp_path: Path, capsys
):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>")
    assert main(["alert", "ingest", "--json", str(bad)]) == 2
    result, err = _one_object(capsys)
    assert (result["ivorn"], result["decision"], result["action"]) == (None, "rejected", "none")
    assert result["request_id"] is None and "<!DOCTYPE> is not allowed" in result["reason"]
    assert err.strip().count("\n") == 0 and "rejected: <!DOCTYPE>" in err

    assert main(["alert", "ingest", "--json", str(tmp_path / "missing.xml")]) == 2
    result, err = _one_object(capsys)
    assert result["decision"] == "rejected" and result["reason"].endswith("no such file")
    assert main(["alert", "ingest", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_at_sets_the_reception_instant(engine, voevents, capsys):
    path = str(VOEVENT_DIR / SWIFT)
    assert main(["alert", "ingest", "--json", "--at", "2018-12-13T20:00:00Z", path]) == 0
    result, _ = _one_object(capsys)
    assert result["decision"] == "not-observable" and result["reason"].startswith("daylight")
    assert result["received_at"] == "2018-12-13T20:00:00Z"
    assert main(["alert", "ingest", "--json", "--at", "2018-12-13T20:00:00Z", path]) == 0
    assert _one_object(capsys)[0]["decision"] == "duplicate"
    assert main(["alert", "ingest", "--at", "tomorrow", path]) == 2
    assert "--at: 'tomorrow' is not an ISO 8601 instant" in capsys.readouterr().err


def test_an_uninitialised_database_exits_3(tmp_path, monkeypatch, voevents, capsys):
    monkeypatch.setenv("PYROS_DATABASE_URL", f"sqlite:///{tmp_path / 'never.db'}")
    assert main(["alert", "ingest", "--json", str(VOEVENT_DIR / SWIFT)]) == 3
    result, err = _one_object(capsys)
    assert result["ok"] is False and "pyros db init" in err


def test_the_installed_command_never_shows_a_traceback(engine, tmp_path: Path):
    garbage = tmp_path / "garbage.xml"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    result = run_pyros("alert", "ingest", "--json", str(garbage))
    assert result.returncode == 2
    assert json.loads(result.stdout)["decision"] == "rejected"
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_the_help_names_the_site_file_section_in_brackets():
    # Rich markup would take "[alert_intake]" for a tag and print "()" (seen 2026-12-05).
    result = CliRunner().invoke(app, ["alert", "send", "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "([alert_intake])" in result.output, result.output
