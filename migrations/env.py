"""Alembic environment: the URL comes from the caller (`filelinks-api migrate`, `serve`, the
tests) through `config.attributes["url"]`, else from the FILELINKS_* settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from filelinks_api.config import load_settings
from filelinks_api.models import metadata

config = context.config

# Serialize concurrent `serve` processes migrating one PostgreSQL database.
_ADVISORY_LOCK = 7_263_511_202


def run_migrations_online() -> None:
    url = config.attributes.get("url") or load_settings().resolved_database_url
    connect_args = config.attributes.get("connect_args", {}) if url.startswith("postgres") else {}
    connectable = config.attributes.get("connection") or create_engine(
        url, poolclass=pool.NullPool, connect_args=connect_args
    )
    with connectable.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text(f"SELECT pg_advisory_lock({_ADVISORY_LOCK})"))
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=True,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if postgres:
                connection.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_LOCK})"))
                connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `filelinks-api migrate`")
run_migrations_online()
