"""``pyros user/program/country`` and the submitter refusals (issue #23): exit 2, one line,
nothing written."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from app.cli.main import main
from infra.db import session_scope
from infra.db.models import JournalEntry, Request, ScientificProgram, Sequence, User
from tests.support.requests import request_xml, sequence_xml


def _json(capsys) -> object:
    return json.loads(capsys.readouterr().out)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


def _counts(engine) -> tuple[int, int, int, int]:
    with session_scope(engine) as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (User, ScientificProgram, Request, JournalEntry)
        )


def test_an_admin_manages_users_programs_and_countries(engine, capsys):
    assert main(["user", "add", "ada", "--level", "admin", "--country", "France"]) == 0
    assert main(["user", "add", "olga", "--as", "ada", "--program", "GRB", "--quota", "4"]) == 0
    assert "user olga added (observer)" in capsys.readouterr().out
    assert (
        main(
            [
                "program",
                "add",
                "SN",
                "--as",
                "ada",
                "--priority",
                "5",
                "--quota",
                "30",
                "--member",
                "olga",
                "--json",
            ]
        )
        == 0
    )
    program = _json(capsys)
    assert program["members"] == ["olga"] and program["quota_hours"] == 30.0
    assert main(["program", "show", "SN", "--json"]) == 0
    assert _json(capsys)["priority"] == 5
    assert main(["user", "show", "olga", "--json"]) == 0
    olga = _json(capsys)
    assert olga["programs"] == ["GRB", "SN"] and olga["level"] == "observer"
    assert olga["quota_hours"] == 4.0 and olga["active"] is True

    assert main(["country", "set-quota", "Spain", "120", "--create", "--as", "ada"]) == 0
    assert main(["country", "set-quota", "France", "50", "--as", "ada"]) == 0
    capsys.readouterr()
    assert main(["country", "list", "--json"]) == 0
    quotas = {c["name"]: c["quota_hours"] for c in _json(capsys)}
    assert quotas == {"France": 50.0, "Spain": 120.0}

    assert main(["user", "disable", "olga", "--as", "ada"]) == 0
    capsys.readouterr()
    assert main(["user", "list", "--json"]) == 0
    active = {u["username"]: u["active"] for u in _json(capsys)}
    assert active == {"ada": True, "olga": False, "pyros": True}
    assert main(["program", "list", "--json"]) == 0
    assert [p["name"] for p in _json(capsys)] == ["GRB", "SN"]

    # every change is journaled as an operator command, naming who made it
    assert main(["journal", "list", "--kind", "operator", "--json"]) == 0
    commands = [(e["source"], e["payload"]["command"]) for e in _json(capsys)]
    assert ("ada", "user disable") in commands and ("ada", "country set-quota") in commands


def test_only_an_admin_manages_and_refusals_write_nothing(engine, capsys):
    assert main(["user", "add", "olga", "--program", "GRB"]) == 0
    assert main(["user", "add", "otto", "--level", "operator"]) == 0
    assert (
        main(["user", "add", "ada", "--level", "admin", "--program", "GRB", "--program", "GRB"])
        == 0
    )
    capsys.readouterr()
    before = _counts(engine)
    refusals = [
        (["user", "add", "x", "--as", "olga"], "'olga' is observer: only an admin may add users"),
        (["user", "add", "x", "--as", "otto"], "'otto' is operator: only an admin may add users"),
        (["user", "add", "x", "--as", "nobody"], "unknown user 'nobody'"),
        (["user", "add", "olga"], "user 'olga' already exists"),
        (["user", "add", "x", "--level", "god"], "unknown user level 'god'"),
        (["user", "add", "x", "--program", "NOPE"], "unknown scientific program 'NOPE'"),
        (["user", "add", "bad name"], "user name 'bad name'"),
        (["user", "disable", "olga", "--as", "otto"], "only an admin may disable users"),
        (["user", "disable", "ghost"], "unknown user 'ghost'"),
        (["user", "disable", "pyros", "--as", "ada"], "'pyros' is the system user"),
        (["user", "show", "ghost"], "unknown user 'ghost'"),
        (["program", "add", "SN", "--member", "ghost"], "unknown user 'ghost'"),
        (["program", "add", "GRB"], "scientific program 'GRB' already exists"),
        (["program", "add", "SN", "--quota", "-3"], "program quota: -3.0 is not a number"),
        (["program", "add-member", "GRB", "olga"], "already a member of 'GRB'"),
        (["program", "show", "NOPE"], "unknown scientific program 'NOPE' (known: GRB)"),
        (["country", "set-quota", "France", "9", "--as", "olga"], "only an admin may set quotas"),
        (["country", "set-quota", "Spain", "9"], "unknown country 'Spain' (known: France)"),
    ]
    for argv, message in refusals:
        assert main(argv) == 2, argv
        err = _one_line_error(capsys)
        assert message in err, (argv, err)
    assert _counts(engine) == before


def _write(tmp_path: Path, program: str = "GRB", duration: str = "10") -> Path:
    path = tmp_path / f"{program}-{duration}.xml"
    plans = f'<plan duration="{duration}" filter="r" name="p" nb_images="3"/>'
    path.write_text(
        request_xml([sequence_xml("a", plans=plans)], program=program), encoding="utf-8"
    )
    return path


def test_submission_refusals_are_one_line_and_write_nothing(engine, sim_clock, tmp_path, capsys):
    assert main(["user", "add", "olga", "--program", "GRB", "--quota", "10"]) == 0
    assert main(["user", "add", "ivan", "--program", "GRB", "--quota", "10"]) == 0
    assert main(["user", "disable", "ivan"]) == 0
    assert main(["program", "add", "SN", "--quota", "10"]) == 0
    assert main(["program", "add", "TINY", "--quota", "0.001", "--member", "olga"]) == 0
    capsys.readouterr()
    before = _counts(engine)
    cases = [
        (["--user", "ghost"], "GRB", "unknown user 'ghost'"),
        (["--user", "ivan"], "GRB", "inactive user 'ivan'"),
        (["--user", "olga"], "SN", "user 'olga' is not a member of program 'SN'"),
        (["--user", "olga"], "TINY", "program 'TINY' has 0.001 h left"),
    ]
    for extra, program, message in cases:
        assert main(["request", "submit", str(_write(tmp_path, program)), *extra]) == 2
        err = _one_line_error(capsys)
        assert message in err, err
    assert _counts(engine) == before
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Sequence)) == 0

    assert main(["request", "submit", str(_write(tmp_path)), "--user", "olga"]) == 0
