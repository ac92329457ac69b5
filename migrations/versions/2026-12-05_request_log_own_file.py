"""request_log in a file of its own (SQLite)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 06:00:00

On SQLite the request log moves to a file of its own beside the database (log_database.py):
writing an entry must not need the lock every API write takes. Its table leaves this
database; the entries recorded before the upgrade are not carried over (the log is a
diagnostic). PostgreSQL keeps the table (UNLOGGED, migration 0006).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("ix_request_log_account_livemode_created_seq", table_name="request_log")
    op.drop_table("request_log")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_table(
        "request_log",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=160), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=2048), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("idempotent_replayed", sa.Boolean(), nullable=False),
        sa.Column("stripe_version", sa.String(length=64), nullable=True),
        sa.Column("stripe_account", sa.String(length=80), nullable=True),
        sa.Column("client", sa.String(length=255), nullable=True),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("fault", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_request_log")),
        sa.UniqueConstraint("id", name=op.f("uq_request_log_id")),
    )
    op.create_index(
        "ix_request_log_account_livemode_created_seq",
        "request_log",
        ["account", "livemode", "created", "seq"],
        unique=False,
    )
