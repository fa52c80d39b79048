"""Migrations: up to head, down to base and up again, on both backends."""

from __future__ import annotations

from sqlalchemy import inspect

from infra.db.migrate import SCHEMA_HEAD, current_revision, head_revision, upgrade
from infra.db.models import Base


def test_head_matches_the_models_and_downgrade_round_trips(engine):
    from alembic import command

    from infra.db.migrate import _alembic_config

    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables

    config = _alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_models_and_migrations_agree(engine):
    """Autogenerate finds nothing to add: every model change came with a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_the_schema_head_constant_is_alembics_head():
    assert head_revision() == SCHEMA_HEAD
