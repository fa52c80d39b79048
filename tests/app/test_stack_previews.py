"""``pyros up`` runs the previews server last, ready when ``/health`` answers, unless disabled."""

from __future__ import annotations

import tomllib

from app.stack import plan_stack
from infra.config import DEFAULT_CONFIG_PATH, parse_config
from infra.settings import load_settings


def _config(**controlroom):
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data["controlroom"].update(controlroom)
    return parse_config(data)


def test_the_previews_server_is_planned_with_its_port():
    plan = plan_stack(load_settings(), _config(previews_port=18280))
    spec = plan.specs[-1]
    assert spec.name == "previews" and spec.argv[-2:] == ["previews", "serve"] and spec.restart
    assert spec.ready is not None and spec.ready.http_url == "http://127.0.0.1:18280/health"
    assert plan.ports["previews"] == 18280
    assert plan.info["previews"] == "http://127.0.0.1:18280"


def test_disabled_previews_run_no_server():
    plan = plan_stack(load_settings(), _config(previews_enabled=False))
    assert "previews" not in [spec.name for spec in plan.specs]
    assert "previews" not in plan.ports and "previews" not in plan.info
