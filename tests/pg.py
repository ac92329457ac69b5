"""A PostgreSQL schema of one's own, for a test run or a benchmark: created, confined to by
`search_path`, dropped. `base` is a database URL the caller may create schemas in."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from filelinks_api.config import normalize_database_url


def schema_url(base: str, schema: str) -> str:
    """`base`, every connection confined to `schema` through search_path."""
    url = make_url(normalize_database_url(base)).update_query_dict(
        {"options": f"-csearch_path={schema}"}
    )
    return url.render_as_string(hide_password=False)


def create_schema(base: str, schema: str) -> None:
    _run(base, f'CREATE SCHEMA "{schema}"')


def drop_schema(base: str, schema: str) -> None:
    _run(base, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _run(base: str, statement: str) -> None:
    admin = create_engine(normalize_database_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()
