"""prefect.yaml declares deployments whose entrypoints are real flows."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_every_deployment_entrypoint_is_a_flow_on_the_pyros_pool():
    from prefect import Flow

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    names = [d["name"] for d in spec["deployments"]]
    assert len(names) == len(set(names)) and "submit-request" in names
    for deployment in spec["deployments"]:
        module_path, function = deployment["entrypoint"].split(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        assert isinstance(getattr(module, function), Flow), deployment["name"]
        assert deployment["work_pool"]["name"] == "pyros"
