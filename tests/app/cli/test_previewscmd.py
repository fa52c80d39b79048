"""``pyros previews serve`` as ``pyros up`` runs it: a process serving ``$PYROS_HOME/previews``
on the configured loopback port until SIGTERM; a remote address refused by the site check."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import urllib.request

from infra.config import DEFAULT_CONFIG_PATH
from tasks.controlroom.preview_store import store_preview
from tests.support.cli import pyros_command, run_pyros
from tests.support.ports import free_port, wait_port


def _site(path, **replacements) -> None:
    site = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    for key, value in replacements.items():
        site = re.sub(rf"(?m)^{key} = \S+", f"{key} = {value}", site)
    path.write_text(site, encoding="utf-8")


def _env(home) -> dict[str, str]:
    env = {**os.environ, "PYROS_HOME": str(home), "PYROS_SITE_CONFIG": str(home / "site.toml")}
    env.pop("PREFECT_API_URL", None)
    return env


def test_serve_answers_with_the_home_previews_and_stops_on_sigterm(tmp_path):
    home, port = tmp_path / "home", free_port()
    home.mkdir()
    _site(home / "site.toml", previews_port=port)
    store_preview(home / "previews", "IMG-1", b"\x89PNG fake", candidates=0)
    process = subprocess.Popen(
        pyros_command("previews", "serve"),
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_port(port, 30, process, what="pyros previews serve")
        url = f"http://127.0.0.1:{port}/previews/IMG-1.png"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.headers["Content-Type"] == "image/png"
            assert response.read() == b"\x89PNG fake"
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"on http://127.0.0.1:{port}" in out


def test_a_remote_address_is_refused_in_one_line(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    _site(home / "site.toml", previews_host='"0.0.0.0"')
    result = run_pyros("previews", "serve", env=_env(home), timeout=60)
    assert result.returncode == 2
    assert "is not a loopback address" in result.stderr
    assert "Traceback" not in result.stderr
