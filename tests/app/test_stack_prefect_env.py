"""The Prefect settings the stack gives its processes, as Prefect itself reads them."""

from __future__ import annotations

from app.stack import prefect_env
from infra.config import get_config
from infra.settings import load_settings


def test_the_stack_s_prefect_clients_outlast_minutes_of_a_locked_server_database(monkeypatch):
    env, _ = prefect_env(load_settings(), get_config())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from prefect.settings import Settings

    retries = Settings().client.max_retries
    # Prefect's client sleeps 2**n s before its n-th retry of a 503 (prefect/client/base.py).
    assert sum(2**n for n in range(1, retries + 1)) >= 4 * 60, retries
