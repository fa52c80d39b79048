"""Secrets only from the environment: masked wherever they are written or shown."""

from __future__ import annotations

import pytest

from infra.db.engine import create_pyros_engine
from infra.secrets import (
    CLIENT_AUTH_ENV,
    SERVER_AUTH_ENV,
    adopt_client_auth,
    check_password_present,
    redact_environment,
    url_has_password,
)
from infra.settings import SettingsError, redact_url

PG_URL = "postgresql+psycopg2://pyros:s3cret-pw@db.example:5432/pyros"


def test_a_url_password_is_masked_and_nothing_else_changes():
    assert redact_url(PG_URL) == "postgresql+psycopg2://pyros:***@db.example:5432/pyros"
    assert redact_url("sqlite:////tmp/pyros.db") == "sqlite:////tmp/pyros.db"
    assert redact_url("not a url") == "<unparsable database URL>"


def test_an_environment_is_redacted():
    env = {
        "PYROS_DATABASE_URL": PG_URL,
        "GCN_KAFKA_CLIENT_SECRET": "kafka-s3cret",
        "PREFECT_SERVER_API_AUTH_STRING": "admin:auth-s3cret",
        "PREFECT_API_AUTH_STRING": "admin:auth-s3cret",
        "PREFECT_API_URL": "http://127.0.0.1:4200/api",
        "GCN_KAFKA_CLIENT_ID": "client-id",
    }
    redacted = redact_environment(env)
    assert "s3cret" not in repr(redacted)
    assert redacted["PYROS_DATABASE_URL"] == redact_url(PG_URL)
    assert redacted["GCN_KAFKA_CLIENT_SECRET"] == "***"
    assert redacted["PREFECT_API_URL"] == env["PREFECT_API_URL"]
    assert redacted["GCN_KAFKA_CLIENT_ID"] == "client-id"


def test_passwords_are_told_apart():
    assert url_has_password(PG_URL)
    assert not url_has_password("postgresql+psycopg2://pyros@db.example/pyros")
    assert not url_has_password("sqlite:////tmp/pyros.db")


def test_a_masked_password_is_refused_with_where_to_set_it():
    check_password_present(PG_URL)  # the real secret: fine
    with pytest.raises(SettingsError) as caught:
        create_pyros_engine(redact_url(PG_URL))
    assert "its password is not recorded anywhere" in str(caught.value)
    assert "set PYROS_DATABASE_URL, with the password, in this environment" in str(caught.value)


def test_our_clients_take_the_servers_auth_string():
    env = {SERVER_AUTH_ENV: "admin:pass"}
    assert adopt_client_auth(env) is True
    assert env[CLIENT_AUTH_ENV] == "admin:pass"
    own = {SERVER_AUTH_ENV: "admin:pass", CLIENT_AUTH_ENV: "other:pass"}
    assert adopt_client_auth(own) is False and own[CLIENT_AUTH_ENV] == "other:pass"
    none: dict[str, str] = {}
    assert adopt_client_auth(none) is False and none == {}
