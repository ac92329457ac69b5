"""Alembic owns the schema: the newest migration and the models must agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from filelinks_api.db import Database, migrate
from filelinks_api.models import metadata


def test_autogenerate_finds_no_difference_between_models_and_migrations(database: Database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_migrating_twice_is_a_no_op(backend_url: str, database: Database):
    migrate(backend_url)
    tables = set(inspect(database.engine).get_table_names())
    assert {"files", "file_links", "alembic_version"} <= tables


def test_list_queries_have_account_scoped_indexes(database: Database):
    indexes = {
        table: {tuple(ix["column_names"]) for ix in inspect(database.engine).get_indexes(table)}
        for table in ("files", "file_links")
    }
    assert ("account", "livemode", "created", "seq") in indexes["files"]
    assert ("account", "livemode", "created", "seq", "expires_at") in indexes["file_links"]
    assert ("account", "livemode", "file", "created", "seq") in indexes["file_links"]
