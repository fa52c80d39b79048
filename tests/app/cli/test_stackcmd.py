"""``pyros status`` shows the alert listener's status file (run/alert-listener.json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from app.cli.main import main
from infra.settings import load_settings


def _write(status: dict) -> None:
    run_dir = load_settings().run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "alert-listener.json").write_text(json.dumps(status), encoding="utf-8")


def _status(pid: int, beat_ago_s: float) -> dict:
    return {
        "pid": pid,
        "roads": {"comet": True, "kafka": False, "drop": True},
        "ready": True,
        "received": {"comet": 3, "kafka": 1},
        "decided": {"follow-up": 2, "duplicate": 2},
        "pending": 0,
        "last": None,
        "heartbeat_at": (datetime.now(UTC) - timedelta(seconds=beat_ago_s)).isoformat(),
    }


def test_status_shows_the_listener_heartbeat_roads_and_counts(capsys):
    _write(_status(os.getpid(), 4.0))
    assert main(["status", "--json"]) == 3  # no stack runs in this home
    listener = json.loads(capsys.readouterr().out)["alert_listener"]
    assert listener["running"] and listener["roads"]["comet"] and not listener["roads"]["kafka"]
    assert 3.0 <= listener["heartbeat_age_s"] < 600
    assert main(["status"]) == 3
    out = capsys.readouterr().out
    assert f"alert listener: running, pid {os.getpid()}, last heartbeat" in out
    assert "roads: comet up, kafka DOWN, drop up" in out
    assert "received: comet=3 kafka=1; decided: duplicate=2 follow-up=2; pending: 0" in out


def test_a_dead_listener_file_is_shown_stale_and_no_file_shows_nothing(capsys):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    _write(_status(int(gone.stdout), 100.0))
    assert main(["status"]) == 3
    assert "alert listener: NOT RUNNING (stale file)" in capsys.readouterr().out
    (load_settings().run_dir / "alert-listener.json").unlink()
    assert main(["status", "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["alert_listener"] is None
