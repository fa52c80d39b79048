"""Secrets come from the environment only, and never leave it in clear.

Three secrets reach PyROS, all through environment variables: the database password (inside
``PYROS_DATABASE_URL``), the GCN Kafka client secret (``GCN_KAFKA_CLIENT_SECRET``) and the Prefect
API's basic-auth string (``PREFECT_SERVER_API_AUTH_STRING`` for the server,
``PREFECT_API_AUTH_STRING`` for its clients). Anything that writes an environment or a URL out
(the stack's run file, messages, logs) passes it through :func:`redact_environment` or
:func:`~infra.settings.redact_url` first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

from infra.config_intake import KAFKA_CLIENT_SECRET_ENV
from infra.settings import SettingsError, redact_url

#: What a hidden secret is replaced with (SQLAlchemy's own mask for a URL's password).
MASK = "***"
#: The server's basic-auth string (``user:password``) and the one its clients send.
SERVER_AUTH_ENV = "PREFECT_SERVER_API_AUTH_STRING"
CLIENT_AUTH_ENV = "PREFECT_API_AUTH_STRING"
#: Variables whose whole value is a secret.
SECRET_VARIABLES = (SERVER_AUTH_ENV, CLIENT_AUTH_ENV, KAFKA_CLIENT_SECRET_ENV)
#: Variables holding a URL that may carry a password.
URL_VARIABLES = ("PYROS_DATABASE_URL",)


def redact_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with every secret masked: whole secrets replaced by :data:`MASK`, the password of
    a URL variable hidden (what may be written to a file or shown)."""
    redacted = {}
    for name, value in env.items():
        if name in SECRET_VARIABLES and value:
            redacted[name] = MASK
        elif name in URL_VARIABLES and value:
            redacted[name] = redact_url(value)
        else:
            redacted[name] = value
    return redacted


def url_has_password(url: str) -> bool:
    """Whether the SQLAlchemy ``url`` carries a password."""
    from sqlalchemy.engine import make_url  # light module: SQLAlchemy only when asked

    try:
        return make_url(url).password is not None
    except Exception:
        return False


def check_password_present(url: str) -> None:
    """Refuse a database URL whose password was masked (taken from a record, not the secret).

    Raises
    ------
    SettingsError
        Saying where the password must come from.
    """
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:
        return
    if password == MASK:
        raise SettingsError(
            f"PYROS_DATABASE_URL {redact_url(url)}: its password is not recorded anywhere (the "
            "running stack keeps it in its environment only); set PYROS_DATABASE_URL, with the "
            "password, in this environment"
        )


def adopt_client_auth(environ: MutableMapping[str, str] | None = None) -> bool:
    """Let our Prefect clients authenticate to a server with basic auth: when the server's
    ``PREFECT_SERVER_API_AUTH_STRING`` is set and the client's ``PREFECT_API_AUTH_STRING`` is not,
    set the latter (in ``environ``, default ``os.environ``) to the same string. Call before
    Prefect is imported (its settings are read once). True when it was set here."""
    env = os.environ if environ is None else environ
    if env.get(SERVER_AUTH_ENV) and not env.get(CLIENT_AUTH_ENV):
        env[CLIENT_AUTH_ENV] = env[SERVER_AUTH_ENV]
        return True
    return False
