"""The control room as an operator sees it (issues #21, #22).

A short simulated night with a GRB alert (and its afterglow) and rain runs through a stack of the
test's own (``pyros night --simulate``). Through the API first: one current artifact per
control-room key, and the previews server answering. Then headless Chromium opens the Prefect UI
and checks the runs, a run's decisions in its logs, every control-room artifact with the night's
content, an image preview drawn on screen, and an operator deployment's form filled in and
submitted, its effect seen on the dome.

Screenshots of every page go to ``$PYROS_TEST_SCREENSHOTS`` when set (the operations guide's
pictures come from there), else to the test's temporary folder; the test prints which.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from infra.config import load_config
from infra.db import session_scope
from infra.db.models import Sequence as SequenceRow
from tasks.night.vocabulary import NightAction
from tests.support.artifacts import artifact_table, stack_artifacts
from tests.support.browser import PrefectUI, browser_missing, chromium, image_rendered
from tests.support.cli import run_pyros
from tests.support.operator_night import RAIN_MM_H, write_operator_night
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

#: The drill submitted from the UI's form: who, and for how long (simulated minutes; 100x).
DRILL_BY = "browser-operator"
DRILL_MINUTES = "120"
#: How the night's loop logs a decision: "<action>: <reason>" (flows/night.py).
DECISIONS = tuple(f"{action.value}: " for action in NightAction)


def _api(instance, path: str, body: dict | None = None) -> object:
    """The stack's Prefect REST API (POST when ``body`` is given)."""
    url = f"http://127.0.0.1:{instance.prefect_port}/api{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _latest_artifacts(instance) -> dict[str, dict]:
    found = _api(instance, "/artifacts/latest/filter", {"limit": 200})
    return {artifact["key"]: artifact for artifact in found}


def _runs(instance, **flow_filter: object) -> list[dict]:
    body = {"sort": "EXPECTED_START_TIME_DESC", "limit": 200, **flow_filter}
    return _api(instance, "/flow_runs/filter", body)


def _sequence_names(engine) -> list[str]:
    with session_scope(engine) as session:
        return list(session.scalars(select(SequenceRow.name)))


def _shots(tmp_path: Path) -> Path:
    chosen = os.environ.get("PYROS_TEST_SCREENSHOTS")
    shots = Path(chosen) if chosen else tmp_path / "screenshots"
    print(f"\nscreenshots: {shots}", file=sys.stderr)
    return shots


@pytest.mark.parametrize("db_backend", ["sqlite"])  # what make run uses; PostgreSQL: integration
@pytest.mark.site_frame_px(None)
@pytest.mark.timeout(1200)
def test_an_operator_reads_the_night_in_the_prefect_ui_and_runs_a_drill_from_its_form(
    instance, engine, tmp_path
):
    missing = browser_missing()
    if missing:
        pytest.fail(missing)  # the browser tier is asked for by name: no silent skip
    # The operator reads the runs' INFO logs: the stack logs as `make run`'s does, not at the
    # test session's WARNING (tests/conftest.py).
    instance.env.pop("PREFECT_LOGGING_LEVEL", None)
    config = load_config(instance.home / "site.toml")
    night = write_operator_night(tmp_path / "scenario", config, datetime.now(UTC))
    result = instance.pyros(
        "night", "--simulate", "--speed", "100", "--hours", "1.5", "--frame-px", "512",
        "--scenario", str(night.scenario), "--json",
        timeout=900,
    )  # fmt: skip
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    print("summary:", json.dumps(summary), file=sys.stderr)
    # The alert's follow-up and the rain take much of the hour: what is executed varies.
    assert summary["images"] >= 1 and summary["weather_closures"] >= 1, summary

    _one_current_artifact_per_key(instance)
    artifacts = _latest_artifacts(instance)
    with chromium() as driver:
        ui = PrefectUI(driver, f"http://127.0.0.1:{instance.prefect_port}", _shots(tmp_path))
        _runs_and_their_decisions(instance, ui)
        _artifacts_show_the_night(ui, artifacts, night, _sequence_names(engine))
        _preview_renders(ui, artifacts)
        _drill_from_the_form(instance, ui)


def _one_current_artifact_per_key(instance) -> None:
    """Updated in place: one artifact per control-room key however many frames and looks, each
    current; the previews server answers the latest preview's URL with a PNG and keeps at most
    ``previews_keep`` of them."""
    by_key: dict[str, list[dict]] = {}
    for artifact in stack_artifacts(instance):
        if artifact["key"]:
            by_key.setdefault(artifact["key"], []).append(artifact)
    print("keys:", sorted((k, len(v)) for k, v in by_key.items()), file=sys.stderr)
    nrt_keys = [k for k in by_key if k.startswith("pyros-nrt")]
    assert nrt_keys
    keys = ["pyros-schedule", "pyros-device-health", "pyros-previews", "pyros-sequence-progress"]
    keys += ["pyros-environment", "pyros-alerts"]
    for key in [*keys, *nrt_keys]:
        assert len(by_key.get(key, [])) == 1, (key, len(by_key.get(key, [])))

    schedule = artifact_table(by_key["pyros-schedule"][0])
    assert schedule and all(row["sequence"] and row["target"] for row in schedule)
    progress = by_key["pyros-sequence-progress"][0]
    assert progress["type"] == "progress" and 0.0 <= float(progress["data"]) <= 100.0
    health_rows = artifact_table(by_key["pyros-device-health"][0])
    health = {row["device"]: row["condition"] for row in health_rows}
    assert health.get("mount") == "ok" and health.get("dome") == "ok", health
    room = load_config(instance.home / "site.toml").controlroom
    for key in nrt_keys:
        assert 1 <= len(artifact_table(by_key[key][0])) <= room.nrt_artifact_frames
        assert "frame(s) analysed" in by_key[key][0]["description"]

    base = f"http://127.0.0.1:{room.previews_port}/previews/"
    assert base in by_key["pyros-previews"][0]["data"]
    latest = by_key["pyros-preview-latest"]
    assert len(latest) == 1 and latest[0]["type"] == "image"
    assert latest[0]["data"].startswith(base)
    with urllib.request.urlopen(latest[0]["data"], timeout=10) as response:
        assert response.headers["Content-Type"] == "image/png"
        assert response.read(8) == b"\x89PNG\r\n\x1a\n"
    assert len(list((instance.home / "previews").glob("*.png"))) <= room.previews_keep


def _runs_and_their_decisions(instance, ui: PrefectUI) -> None:
    """The runs page lists the night's latest runs with their states; an execute-night run's
    page shows its decisions in its logs."""
    newest = _runs(instance)[:5]
    assert newest
    # Their states may move on meanwhile (the stack runs on): the night's runs ended Completed.
    ui.open("/runs", "runs", *[run["name"] for run in newest], "Completed")

    def a_decision() -> tuple[dict, str] | None:
        executions = _runs(instance, flows={"name": {"any_": ["execute-night"]}})
        for run in executions:
            body = {"logs": {"flow_run_id": {"any_": [run["id"]]}}, "limit": 200}
            for log in _api(instance, "/logs/filter", body):
                if log["message"].startswith(DECISIONS):
                    return run, log["message"]
        return None

    decided = eventually(
        a_decision, within_s=60, every_s=2.0, what="an execute-night run logging its decisions"
    )
    run, message = decided
    ui.open(f"/runs/flow-run/{run['id']}", "execute-night-run-logs", run["name"], message[:80])


def _artifacts_show_the_night(
    ui: PrefectUI, artifacts: dict[str, dict], night, sequence_names: list[str]
) -> None:
    """Each control-room artifact opens and shows the night's content."""
    keys = ["pyros-schedule", "pyros-environment", "pyros-device-health", "pyros-alerts"]
    keys += ["pyros-nrt", "pyros-night-report", "pyros-preview-latest"]
    for key in keys:
        assert key in artifacts, (key, sorted(artifacts))
        assert artifacts[key]["data"], (key, "empty")

    def open_artifact(key: str, *expected: str) -> str:
        return ui.open(f"/artifacts/artifact/{artifacts[key]['latest_id']}", key, key, *expected)

    # The stack runs on after the night's span (the clock at 100x): the schedule may be re-planned
    # meanwhile, so the page must show one of the night's sequences, not a list read earlier.
    assert json.loads(artifacts["pyros-schedule"]["data"]), "the schedule has no sequence"
    ui.open(
        f"/artifacts/artifact/{artifacts['pyros-schedule']['latest_id']}", "pyros-schedule",
        "pyros-schedule", "target", any_of=sequence_names,
    )  # fmt: skip
    # After the night, the environment still shows the rain: its episode, what it closed for.
    episodes = artifacts["pyros-environment"]["data"].split("Unsafe episodes", 1)[-1]
    assert re.search(r"^\| [\d:\- ]+ \| [^|]+ \| [^|]*\brain\b", episodes, re.M), episodes
    open_artifact("pyros-environment", "Environment:", "rain", "mm/h", "Unsafe episodes")
    health = json.loads(artifacts["pyros-device-health"]["data"])
    assert all(row["state"] for row in health), health  # each device's own state, as it said
    open_artifact("pyros-device-health", *[row["device"] for row in health], "lease holder")
    open_artifact("pyros-nrt", "frame(s) analysed")
    open_artifact("pyros-night-report", f"Rain = {RAIN_MM_H:g} mm/h", "Frames per camera")

    alerts = json.loads(artifacts["pyros-alerts"]["data"])
    trigger = night.ivorn.rsplit("_", 1)[1].split("-")[0]
    ours = [row for row in alerts if row["burst"].endswith(trigger)]
    assert ours, (trigger, alerts)
    assert ours[0]["decision"] != "ignored", ours[0]
    open_artifact("pyros-alerts", ours[0]["burst"], ours[0]["decision"])
    follow_up = [key for key in artifacts if key.startswith("alert-follow-up-")]
    assert follow_up, sorted(artifacts)
    # The afterglow injected at the notice's position is found in the follow-up's frames.
    open_artifact(follow_up[0], "Alert follow-up", "images taken", "position found: RA")


def _preview_renders(ui: PrefectUI, artifacts: dict[str, dict]) -> None:
    """The newest frame's preview is drawn: the picture loaded and is not blank."""
    latest = artifacts["pyros-preview-latest"]
    ui.open(f"/artifacts/artifact/{latest['latest_id']}", "preview", "pyros-preview-latest")
    # Updated in place as frames come: the picture shown is the newest one, from the previews
    # server the first one read named.
    server = latest["data"].rsplit("/", 1)[0] + "/"

    def drawn():
        pictures = [img for img in ui.images() if img.get_attribute("src").startswith(server)]
        return pictures and image_rendered(ui.driver, pictures[0])[0] > 0 and pictures[0]

    picture = eventually(drawn, within_s=30, what=f"a preview from {server} loaded")
    width, height, spread = image_rendered(ui.driver, picture)
    print(f"preview: {width}x{height}, pixel spread {spread:.1f}", file=sys.stderr)
    assert spread > 1.0, "the preview is drawn blank"
    ui.shoot("preview")


def _drill_from_the_form(instance, ui: PrefectUI) -> None:
    """The fake-alarm deployment's run form, filled in and submitted: its run completes with the
    parameters typed, and the monitor closes the dome naming the operator."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    deployment = _api(instance, "/deployments/name/fake-alarm/fake-alarm")
    ui.open(f"/deployments/deployment/{deployment['id']}/run", "fake-alarm-form", "Parameters")
    for field, value in (
        (ui.driver.find_element(By.CSS_SELECTOR, "input[type=number]"), DRILL_MINUTES),
        (ui.driver.find_element(By.TAG_NAME, "textarea"), DRILL_BY),
    ):
        # One call per key: a modifier sent with other keys stays held for all of them.
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(Keys.DELETE)
        field.send_keys(value)
        assert field.get_attribute("value") == value, (value, field.get_attribute("value"))
    ui.shoot("fake-alarm-form-filled")
    submit = [b for b in ui.driver.find_elements(By.TAG_NAME, "button") if b.text == "Submit"]
    assert len(submit) == 1, [b.text for b in ui.driver.find_elements(By.TAG_NAME, "button")]
    submit[0].click()

    def drill_run() -> dict | None:
        runs = _runs(instance, deployments={"id": {"any_": [deployment["id"]]}})
        done = [r for r in runs if r["parameters"].get("by") == DRILL_BY]
        return done[0] if done and done[0]["state_type"] == "COMPLETED" else None

    run = eventually(drill_run, within_s=180, every_s=1.0, what="the drill's run Completed")
    assert float(run["parameters"]["minutes"]) == float(DRILL_MINUTES), run["parameters"]

    def dome_closed_by_the_drill() -> dict | None:
        status = run_pyros("status", "--json", env=instance.env, check=True)
        observatory = json.loads(status.stdout)["observatory"]
        overrides = observatory["weather"]["overrides"]
        closed = observatory["dome"]["device"]["state"] == "closed"
        return observatory if closed and any(DRILL_BY in o for o in overrides) else None

    eventually(dome_closed_by_the_drill, within_s=60, every_s=1.0, what="the dome closed by it")
    ui.open(f"/runs/flow-run/{run['id']}", "fake-alarm-run", run["name"], "Completed")
