"""Alembic owns the schema: the newest migration and the models must agree."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from filelinks_api.db import Database, migrate
from filelinks_api.models import metadata
from tests.conftest import BACKENDS


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


# SQLite has no unlogged tables: the migration does nothing there
@pytest.mark.parametrize(
    "backend_url", [b for b in BACKENDS if b == "postgresql"], indirect=True, scope="session"
)
def test_only_the_request_log_is_unlogged_on_postgresql(database: Database):
    """Migration 0006: the log's commits wait for no WAL flush; the objects' still do."""
    tables = ("request_log", "files", "file_links", "idempotency_keys")
    with database.engine.connect() as connection:
        # ::regclass resolves the name through this schema's search_path (other test schemas
        # have tables of the same names)
        persistence = {
            table: connection.execute(
                text("SELECT relpersistence FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                {"t": table},
            ).scalar_one()
            for table in tables
        }
    assert persistence == {
        "request_log": "u",
        "files": "p",
        "file_links": "p",
        "idempotency_keys": "p",
    }


@pytest.mark.parametrize(
    "backend_url", [b for b in BACKENDS if b == "postgresql"], indirect=True, scope="session"
)
def test_the_request_logs_responses_are_compressed_with_lz4_on_postgresql(database: Database):
    """Migration 0010: a large logged response (a page of links) is compressed with lz4, not
    TOAST's default pglz (half of such an insert's cost on the server); the server here is
    built with lz4, as Debian's and the official images are."""
    with database.engine.connect() as connection:
        compression = dict(
            connection.execute(
                text(
                    "SELECT attname, attcompression FROM pg_attribute"
                    " WHERE attrelid = CAST('request_log' AS regclass)"
                    " AND attname IN ('response', 'request')"
                )
            ).all()
        )
        # a value stored now is compressed with lz4 (in a transaction rolled back)
        big = '{"data": [' + ", ".join(['{"object": "file_link"}'] * 2000) + "]}"
        connection.execute(
            text(
                "INSERT INTO request_log (id, account, livemode, created, method, path,"
                " query, status, duration_ms, idempotent_replayed, response) VALUES"
                " ('req_lz4', 'acct_lz4', false, 1, 'GET', '/v1/file_links', '', 200, 1.0,"
                " false, :big)"
            ),
            {"big": big},
        )
        method = connection.execute(
            text("SELECT pg_column_compression(response) FROM request_log WHERE id = 'req_lz4'")
        ).scalar_one()
        connection.rollback()
    assert compression == {"response": "l", "request": ""}  # the request's params are small
    assert method == "lz4"
