"""One night, one set of figures: the summary ``pyros night --simulate`` prints, the report files,
the Prefect artifact and ``pyros night report`` agree on every count (a small synthetic night in
the database, a real Prefect server: the session's test harness)."""

from __future__ import annotations

import json

import pytest

from app.cli.main import main
from infra.config import get_config
from infra.db import session_scope
from tasks.night.report import record_night_run
from tests.support.night_data import INFRARED, VISIBLE, build_night

pytestmark = [pytest.mark.prefect, pytest.mark.xdist_group("prefect")]

#: Keys the terminal's summary adds to the report's (where the report is, the UI's address).
TERMINAL_ONLY = ("report", "ui")


def _counts(summary: dict) -> dict:
    return {key: value for key, value in summary.items() if key not in TERMINAL_ONLY}


def test_the_summary_the_files_the_artifact_and_the_command_agree(
    engine, tmp_path, capsys, prefect_harness
):
    from prefect import flow
    from prefect.artifacts import Artifact

    from app.cli.nightsim import night_result
    from tasks.night.prefect_tasks import REPORT_ARTIFACT_KEY, night_report_task

    config = get_config()
    built = build_night(engine, config, tmp_path / "frames")
    # A night cut short: its span is journaled before end-of-night reports.
    with session_scope(engine) as session:
        record_night_run(session, built.label, built.span_end, span_end=built.span_end)

    @flow(name="end-of-night-test")
    def end_of_night() -> dict:
        return night_report_task(built.label)

    from_flow = end_of_night()
    artifact = Artifact.get(REPORT_ARTIFACT_KEY)
    assert artifact is not None
    flow_markdown = str(artifact.data)

    # The simulation's own figures, then the summary it prints (and publishes again).
    figures = {"flow_runs_failed": 0, "flow_runs_crashed": 0, "wall_seconds": 42.0}
    with session_scope(engine) as session:
        record_night_run(session, built.label, built.span_end, figures=figures)
    terminal = night_result(built.label, ui="http://127.0.0.1:4200")
    summary = terminal["summary"]
    artifact = Artifact.get(REPORT_ARTIFACT_KEY)
    assert artifact is not None

    reports = tmp_path / "home" / "reports"
    file_json = json.loads((reports / f"{built.label}.json").read_text())
    file_md = (reports / f"{built.label}.md").read_text()
    capsys.readouterr()
    assert main(["night", "report", built.label, "--json"]) == 0
    command_json = json.loads(capsys.readouterr().out)
    assert main(["night", "report", "--json"]) == 0  # no argument: the latest night with data
    latest_json = json.loads(capsys.readouterr().out)
    assert main(["night", "report", built.label]) == 0
    command_text = capsys.readouterr().out

    # Every count is the same everywhere.
    assert summary["report"] == str(reports / f"{built.label}.md")
    assert _counts(summary) == file_json["summary"] == command_json["summary"]
    assert latest_json == command_json
    assert file_json == command_json
    assert terminal["markdown"] == file_md == str(artifact.data) == command_text.rstrip("\n") + "\n"
    # The flow's artifact had the same night figures (the run's figures came after it).
    assert {k: from_flow[k] for k in _counts(summary) if k not in figures} == {
        k: v for k, v in _counts(summary).items() if k not in figures
    }
    assert "wall seconds" not in flow_markdown and "wall seconds: 42.0" in file_md

    # And the counts are the night's: the span cut short, the frames of both cameras.
    assert (summary["sequences_plannable"], summary["sequences_dropped"]) == (2, 1)
    assert (summary["sequences_executed"], summary["sequences_interrupted"]) == (1, 1)
    cameras = summary["cameras"]
    assert {name: c["frames_taken"] for name, c in cameras.items()} == {VISIBLE: 5, INFRARED: 3}
    assert {name: c["frames_analysed"] for name, c in cameras.items()} == {VISIBLE: 3, INFRARED: 2}
    assert {name: c["frames_failed"] for name, c in cameras.items()} == {VISIBLE: 1, INFRARED: 1}
    assert cameras[VISIBLE]["false_candidates_per_frame"] == round(1 / 3, 4)
    for name, c in cameras.items():
        row = (
            f"| {name} | {c['frames_taken']} | {c['frames_analysed']} | {c['frames_failed']} | "
            f"{c['frames_pending']} |"
        )
        assert row in file_md, row
    assert (
        f"plannable sequences: **{summary['sequences_plannable']}**" in file_md
        and f"dropped since planned: {summary['sequences_dropped']};" in file_md
    )


def test_a_night_without_data_says_so(engine, tmp_path, capsys):
    assert main(["night", "report", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "null"
    assert main(["night", "report"]) == 0
    assert "no night has data" in capsys.readouterr().out

    built = build_night(engine, get_config(), tmp_path / "frames")
    assert main(["night", "report", "2026-11-20"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "night 2026-11-20: no data" in err and f"latest night with data is {built.label}" in err
    assert main(["night", "report", "2026-11-20", "--json"]) == 3
    answered = capsys.readouterr()
    assert json.loads(answered.out)["exit_code"] == 3
