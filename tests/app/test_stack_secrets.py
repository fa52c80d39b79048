"""The stack's run file and its process specs hold no secret; the CLI shows the database masked."""

from __future__ import annotations

import json
import os

from app.cli.main import main
from app.stack import plan_stack
from app.supervisor.launch import run_file_content
from infra.config import load_config
from infra.settings import load_settings
from infra.stackrun import write_run_file
from tests.support.cli import run_pyros

SECRET = "s3cret-pw"
PG_URL = f"postgresql+psycopg2://pyros:{SECRET}@127.0.0.1:9/pyros"  # nothing listens on 9
SECRETS = {
    "PYROS_DATABASE_URL": PG_URL,
    "GCN_KAFKA_CLIENT_ID": "client-id",
    "GCN_KAFKA_CLIENT_SECRET": "kafka-s3cret",
    "PREFECT_SERVER_API_AUTH_STRING": "admin:auth-s3cret",
    "PREFECT_API_AUTH_STRING": "admin:auth-s3cret",
}


def test_the_run_file_masks_the_database_password_and_holds_no_other_secret(tmp_path, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    plan = plan_stack(load_settings(), load_config())
    # The processes inherit the URL with its password from the supervisor's environment.
    assert all("PYROS_DATABASE_URL" not in spec.env for spec in plan.specs)
    content = run_file_content(plan.specs, tmp_path / "run", tmp_path / "logs", plan.info)
    text = (write_run_file(tmp_path / "run", content)).read_text(encoding="utf-8")
    assert "s3cret" not in text
    environment = json.loads(text)["environment"]
    assert environment["PYROS_DATABASE_URL"] == "postgresql+psycopg2://pyros:***@127.0.0.1:9/pyros"
    assert environment["PREFECT_API_URL"] == plan.env["PREFECT_API_URL"]


def test_a_url_without_password_still_goes_to_the_processes(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'pyros.db'}"
    monkeypatch.setenv("PYROS_DATABASE_URL", url)
    plan = plan_stack(load_settings(), load_config())
    assert all(spec.env["PYROS_DATABASE_URL"] == url for spec in plan.specs)


def test_status_shows_the_database_masked(monkeypatch, capsys):
    monkeypatch.setenv("PYROS_DATABASE_URL", PG_URL)
    main(["status", "--json"])
    out = capsys.readouterr().out
    assert SECRET not in out
    assert "postgresql+psycopg2://pyros:***@127.0.0.1:9/pyros" in out


def test_a_database_that_cannot_be_reached_is_named_without_its_password(tmp_path):
    home = tmp_path / "home"
    env_extra = {"PYROS_HOME": str(home), "PYROS_DATABASE_URL": PG_URL}
    result = run_pyros("db", "init", env={**os.environ, **env_extra})
    assert result.returncode != 0
    assert SECRET not in result.stdout + result.stderr
    assert "port 9 failed" in result.stderr
    for log in home.rglob("*.log"):
        assert SECRET not in log.read_text(errors="replace"), log


def test_a_masked_url_taken_from_a_record_is_refused_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("PYROS_DATABASE_URL", PG_URL.replace(SECRET, "***"))
    assert main(["db", "init"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "its password is not recorded anywhere" in err
