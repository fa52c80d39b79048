"""Apply PyROS's Prefect objects idempotently: the process work pool, the ``telescope`` global
concurrency limit (limit 1), every deployment of ``prefect.yaml``, and the automations.

Run by ``pyros up`` as a one-shot step between the server and the worker
(``python -m app.prefect_bootstrap``). Running it again changes nothing: deployments are upserted
by name (``prefect deploy``) and not applied again while the server holds the fingerprint of
what they are made of (``prefect.yaml``, the values it reads, PyROS's code, Prefect's version:
applying the 28 deployments takes 15 s, a third of a stack's start), the limit is upserted,
automations are matched by name and duplicates removed (``Automation.create()`` alone would
duplicate them on every start), and the ``pyros:`` automations no longer declared are deleted
(app/automations.py, docs/events.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

import prefect
import yaml
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import VariableCreate, VariableUpdate, WorkPoolCreate
from prefect.events.schemas.automations import AutomationCore
from prefect.exceptions import ObjectNotFound

from app.automations import DEPLOYMENTS, declared_automations, undeclared
from infra.config import get_config
from infra.settings import RunMode, load_settings
from infra.version import REPO_ROOT

log = logging.getLogger("pyros.bootstrap")

WORK_POOL = "pyros"
TELESCOPE_LIMIT = "telescope"
#: Deployments scheduled on the wall clock (calendar), active only in live mode.
CALENDAR_DEPLOYMENTS = ("plan-night",)
#: The Prefect variable holding the fingerprint of the deployments last applied (delete it in
#: the UI's Variables page to have the next ``pyros up`` apply ``prefect.yaml`` again).
DEPLOYED_VARIABLE = "pyros_deployments_fingerprint"
#: The values ``prefect.yaml``'s templates read (:func:`deploy_env`).
TEMPLATE_KEYS = ("PYROS_REPO", "PYROS_PLAN_HOUR", "PYROS_SITE_TIMEZONE")
#: The packages whose code the deployments are made of: the flows' signatures give the
#: parameter forms, and they name types of the other packages.
CODE_PACKAGES = ("app", "devices", "flows", "infra", "simulators", "tasks", "watchers")


def ensure_work_pool(client: SyncPrefectClient) -> str:
    """Create the process work pool unless it exists; returns what was done."""
    try:
        client.read_work_pool(WORK_POOL)
        return "exists"
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(name=WORK_POOL, type="process"))
        return "created"


def ensure_concurrency_limits(client: SyncPrefectClient) -> None:
    """The ``telescope`` limit (1 slot) that serialises routine telescope flows."""
    client.upsert_global_concurrency_limit_by_name(TELESCOPE_LIMIT, 1)


def deploy_env(repo: Path = REPO_ROOT) -> dict[str, str]:
    """What ``prefect.yaml`` templates read: the repository, and plan-night's local hour and
    time zone from the site configuration."""
    config = get_config()
    return {
        **os.environ,
        "PYROS_REPO": str(repo),
        "PYROS_PLAN_HOUR": str(config.night.plan_hour_local),
        "PYROS_SITE_TIMEZONE": config.site.timezone,
    }


def deploy_all(repo: Path = REPO_ROOT, env: Mapping[str, str] | None = None) -> None:
    """``prefect deploy --all`` from the repository (upserts every deployment by name)."""
    result = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=repo,
        env=dict(env if env is not None else deploy_env(repo)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
        raise RuntimeError(f"prefect deploy failed:\n{tail}")


def declared_deployments(repo: Path = REPO_ROOT) -> tuple[list[str], list[str]]:
    """The names of the deployments ``prefect.yaml`` declares, and of their triggers (``prefect
    deploy`` makes each trigger an automation of that name)."""
    document = yaml.safe_load((repo / "prefect.yaml").read_text(encoding="utf-8"))
    deployments = document["deployments"]
    triggers = [str(t["name"]) for d in deployments for t in d.get("triggers") or []]
    return [str(deployment["name"]) for deployment in deployments], triggers


def deployments_fingerprint(repo: Path, env: Mapping[str, str]) -> str:
    """A SHA-256 of what the applied deployments are made of.

    Parameters
    ----------
    repo
        The repository: its ``prefect.yaml`` and the ``.py`` files of :data:`CODE_PACKAGES`
        (path and content each).
    env
        The values of :data:`TEMPLATE_KEYS` (the templates of ``prefect.yaml``).

    Returns
    -------
    str
        Hexadecimal digest, also over Prefect's version; equal digests, equal deployments.
    """
    digest = hashlib.sha256(f"prefect {prefect.__version__}\n".encode())
    for key in TEMPLATE_KEYS:
        digest.update(f"{key}={env.get(key, '')}\n".encode())
    sources = sorted(path for package in CODE_PACKAGES for path in (repo / package).rglob("*.py"))
    for path in [repo / "prefect.yaml", *sources]:
        digest.update(path.relative_to(repo).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def apply_deployments(client: SyncPrefectClient, repo: Path = REPO_ROOT) -> str:
    """Apply ``prefect.yaml`` (:func:`deploy_all`) unless the server already holds this very
    fingerprint, every declared deployment and every deployment trigger's automation; returns
    ``applied`` or ``unchanged``.

    A deployment or a trigger deleted in the UI is applied again; a deployment edited in the UI
    keeps its edits until ``prefect.yaml``, the code or the site's plan hour changes.
    """
    env = deploy_env(repo)
    fingerprint = deployments_fingerprint(repo, env)
    stored = client.read_variable_by_name(DEPLOYED_VARIABLE)
    deployments, triggers = declared_deployments(repo)
    if (
        stored is not None
        and stored.value == fingerprint
        and set(deployments) <= {deployment.name for deployment in client.read_deployments()}
        and set(triggers) <= {automation.name for automation in client.read_automations()}
    ):
        return "unchanged"
    deploy_all(repo, env)
    if stored is None:
        client.create_variable(VariableCreate(name=DEPLOYED_VARIABLE, value=fingerprint))
    else:
        client.update_variable(VariableUpdate(name=DEPLOYED_VARIABLE, value=fingerprint))
    return "applied"


def _normal(value: Any) -> Any:
    """A dumped automation without its ids (triggers get fresh ones) and with its sets sorted."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        items = [_normal(v) for v in value]
        return sorted(items) if all(isinstance(i, str) for i in items) else items
    return value


def same_automation(existing: AutomationCore, declared: AutomationCore) -> bool:
    """Whether the stored automation already is the declared one. Unchanged automations are
    left alone: an update makes Prefect's server reload its triggers, which loses the state
    of their time windows, and while it reloads a concurrent proactive evaluation can fail
    ("Trigger._automation has been garbage collected", seen on 3.9.1)."""
    stored = AutomationCore.model_validate(existing.model_dump(exclude={"id"}))
    return bool(
        _normal(stored.model_dump(mode="json")) == _normal(declared.model_dump(mode="json"))
    )


def ensure_automations(client: SyncPrefectClient, automations: list[AutomationCore]) -> list[str]:
    """Create or update each automation by name (unless unchanged); delete duplicates of the
    same name; delete the automations PyROS owns (named ``pyros: ...``) no longer declared."""
    names = [automation.name for automation in automations]
    if len(set(names)) != len(names):
        raise ValueError(f"declared automation names must be unique: {names}")
    done = []
    for name in undeclared(sorted({a.name for a in client.read_automations()}), automations):
        for stale in client.read_automations_by_name(name):
            client.delete_automation(stale.id)
        done.append(f"{name}: removed")
    for automation in automations:
        existing = client.read_automations_by_name(automation.name)
        if existing:
            keep, *duplicates = existing
            for duplicate in duplicates:
                client.delete_automation(duplicate.id)
            if same_automation(keep, automation):
                done.append(f"{automation.name}: unchanged")
                continue
            client.update_automation(keep.id, automation)
            done.append(f"{automation.name}: updated")
        else:
            client.create_automation(automation)
            done.append(f"{automation.name}: created")
    return done


def deployment_ids(
    client: SyncPrefectClient, names: tuple[str, ...] = DEPLOYMENTS
) -> dict[str, UUID]:
    """The ids of the applied deployments ``names`` (each ``<flow>/<deployment>``, the flow
    named as its deployment in ``prefect.yaml``)."""
    return {name: client.read_deployment_by_name(f"{name}/{name}").id for name in names}


def apply_automations(client: SyncPrefectClient) -> list[str]:
    """Apply :func:`declared_automations` on the deployments as applied (see
    :func:`ensure_automations`)."""
    return ensure_automations(client, declared_automations(deployment_ids(client)))


def set_calendar_schedules(client: SyncPrefectClient, active: bool) -> list[str]:
    """(De)activate the wall-clock schedules (plan-night's daily run): under a simulated clock
    they mean nothing, and ``pyros night --simulate`` runs plan-night itself."""
    changed = []
    for name in CALENDAR_DEPLOYMENTS:
        deployment = client.read_deployment_by_name(f"{name}/{name}")
        for schedule in client.read_deployment_schedules(deployment.id):
            if schedule.active != active:
                client.update_deployment_schedule(deployment.id, schedule.id, active=active)
                changed.append(f"{name}: {'active' if active else 'inactive'}")
    return changed


def bootstrap(repo: Path = REPO_ROOT) -> dict[str, Any]:
    """Apply everything; returns a summary."""
    with get_client(sync_client=True) as client:
        pool = ensure_work_pool(client)
        ensure_concurrency_limits(client)
        deployments = apply_deployments(client, repo)
        automations = apply_automations(client)
        schedules = set_calendar_schedules(client, active=load_settings().mode == RunMode.LIVE)
    return {
        "work_pool": pool,
        "limits": [TELESCOPE_LIMIT],
        "deployments": deployments,
        "automations": automations,
        "schedules": schedules,
    }


def main() -> int:
    """Entry point of the one-shot bootstrap step."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    summary = bootstrap()
    log.info("prefect bootstrap done: %s", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
