"""The deployments' fingerprint: what makes ``pyros up`` apply ``prefect.yaml`` again or not (the
skip itself, on a real server: tests/integration/test_stack.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.prefect_bootstrap import (
    CODE_PACKAGES,
    TEMPLATE_KEYS,
    declared_deployments,
    deployments_fingerprint,
)
from infra.version import REPO_ROOT

ENV = {"PYROS_REPO": "/srv/pyros", "PYROS_PLAN_HOUR": "15", "PYROS_SITE_TIMEZONE": "Europe/Paris"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository of the same shape: prefect.yaml and a module in each code package."""
    shutil.copy(REPO_ROOT / "prefect.yaml", tmp_path / "prefect.yaml")
    for package in CODE_PACKAGES:
        (tmp_path / package / "sub").mkdir(parents=True)
        (tmp_path / package / "sub" / "module.py").write_text(f"NAME = {package!r}\n")
    return tmp_path


def test_the_same_repository_and_values_give_the_same_fingerprint(repo):
    assert deployments_fingerprint(repo, ENV) == deployments_fingerprint(repo, dict(ENV))
    assert len(deployments_fingerprint(repo, ENV)) == 64


@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_each_value_prefect_yaml_reads_changes_it(repo, key):
    assert deployments_fingerprint(repo, {**ENV, key: "other"}) != deployments_fingerprint(
        repo, ENV
    )


@pytest.mark.parametrize("package", CODE_PACKAGES)
def test_a_change_of_code_in_any_package_changes_it(repo, package):
    before = deployments_fingerprint(repo, ENV)
    module = repo / package / "sub" / "module.py"
    module.write_text(module.read_text() + "# changed\n")
    assert deployments_fingerprint(repo, ENV) != before


def test_prefect_yaml_a_new_module_or_a_moved_one_changes_it(repo):
    before = deployments_fingerprint(repo, ENV)
    (repo / "prefect.yaml").write_text((repo / "prefect.yaml").read_text() + "\n# changed\n")
    changed_yaml = deployments_fingerprint(repo, ENV)
    (repo / "flows" / "new.py").write_text("")
    added = deployments_fingerprint(repo, ENV)
    (repo / "flows" / "new.py").rename(repo / "flows" / "sub" / "new.py")
    moved = deployments_fingerprint(repo, ENV)
    assert len({before, changed_yaml, added, moved}) == 4


def test_what_is_not_the_deployments_does_not_change_it(repo):
    before = deployments_fingerprint(repo, ENV)
    (repo / "docs").mkdir()
    (repo / "docs" / "notes.md").write_text("# notes\n")
    (repo / "flows" / "sub" / "module.pyc").write_bytes(b"\0")
    assert deployments_fingerprint(repo, {**ENV, "PYROS_HOME": "/elsewhere"}) == before


def test_the_declared_deployments_and_triggers_are_prefect_yaml_s():
    names, triggers = declared_deployments(REPO_ROOT)
    assert len(names) == len(set(names)) == 28
    assert {"plan-night", "execute-night", "submit-request", "replay-night"} <= set(names)
    assert triggers == ["alert follow-up: one run per burst"]
