"""``pyros status`` with a stack (a real supervisor, here of one small server) and the devices
behind real gateways: ``--json`` prints one document with the observatory (a camera's exposure
progress, a device that does not answer); the screen draws it; with no stack the answer is the
one it always was (exit 3, no observatory); `--watch` redraws until Ctrl-C, which ends it with 0."""

from __future__ import annotations

import json
import re
import signal
import subprocess

import pytest

from app.cli.main import main
from app.supervisor.launch import down, up
from infra.config import DEFAULT_CONFIG_PATH
from infra.settings import load_settings
from tests.app.supervisor.test_supervisor import server_spec
from tests.support.cli import pyros_command
from tests.support.ports import free_port
from tests.support.rig import start_rig
from tests.support.waiting import wait_until

KEYS = {"ok", "error", "connection", "alert_listener", "observatory"}


@pytest.fixture
def stack(tmp_path, engine, monkeypatch):
    """Gateways on free ports named by the site file (the dome's answers nowhere), a
    supervisor for this PYROS_HOME, the test database."""
    rig = start_rig(tmp_path / "rig", speed=10.0, gateways=("mount", "camera_vis", "camera_nir"))
    ports = {name: gateway.address[1] for name, gateway in rig.gateways.items()}
    ports.update(dome=free_port(), plc=free_port())
    site = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    for name, port in ports.items():
        site = re.sub(rf"(?m)^{name} = 51\d\d$", f"{name} = {port}", site)
    (tmp_path / "site.toml").write_text(site, encoding="utf-8")
    monkeypatch.setenv("PYROS_SITE_CONFIG", str(tmp_path / "site.toml"))
    settings = load_settings()
    up([server_spec("placeholder", free_port())], settings.run_dir, settings.log_dir)
    try:
        yield rig
    finally:
        down(settings.run_dir)
        rig.close()


def test_status_json_with_a_stack_is_one_document_with_the_observatory(stack, capsys):
    stack.device("camera_vis").call(
        "EXPOSE", {"exposure_s": 300.0, "image_type": "light", "frame_id": "cli-1"}
    )
    assert main(["status", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)  # exactly one JSON document
    assert set(document) >= KEYS and document["ok"] is True
    observatory = document["observatory"]
    visible = next(c for c in observatory["cameras"] if c["device"]["name"] == "camera_vis")
    assert visible["device"]["state"] == "exposing"
    assert visible["exposure"]["frame_id"] == "cli-1" and visible["exposure"]["exposure_s"] == 300
    assert 0.0 <= visible["exposure"]["elapsed_s"] < 300.0
    assert observatory["dome"]["device"]["reachable"] is False
    assert observatory["mount"]["device"]["reachable"] is True
    assert observatory["mode"] == "AUTO" and observatory["database_error"] is None
    assert [p["name"] for p in observatory["processes"]] == ["placeholder"]


def test_status_screen_with_a_stack(stack, capsys):
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "stack: running in" in out and "mode AUTO" in out
    assert "UNREACHABLE" in out and "placeholder" in out and "logs in " in out


def test_with_no_stack_the_answer_is_unchanged(capsys):
    assert main(["status", "--json"]) == 3
    document = json.loads(capsys.readouterr().out)
    assert set(document) == KEYS and document["ok"] is False
    assert document["error"].startswith("no stack running in ")
    assert document["observatory"] is None
    assert main(["status", "--watch"]) == 3  # nothing to watch: said at once
    assert "no stack running" in capsys.readouterr().err
    assert main(["status", "--watch", "--json"]) == 2


def test_watch_redraws_until_ctrl_c_which_ends_it_normally(stack):
    camera = stack.observatory.devices["camera_vis"]
    before = camera.commands_answered
    process = subprocess.Popen(
        [*pyros_command("status", "--watch", "--every", "0.2"), "--timeout", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Each draw reads the camera once (through its gateway): wait for a redraw.
        assert wait_until(lambda: camera.commands_answered >= before + 2, 60, 0.1)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "PyROS observatory at" in out and "camera_vis" in out
    assert "Traceback" not in err
