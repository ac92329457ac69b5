"""baseline

Revision ID: 0001
Revises:
Create Date: 2026-11-28 00:16:54.624028
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=160), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_files")),
        sa.UniqueConstraint("id", name=op.f("uq_files_id")),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index(
            "ix_files_account_livemode_created_seq",
            ["account", "livemode", "created", "seq"],
            unique=False,
        )
        batch_op.create_index(
            "ix_files_account_livemode_purpose_created_seq",
            ["account", "livemode", "purpose", "created", "seq"],
            unique=False,
        )

    op.create_table(
        "file_links",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=160), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("file", sa.String(length=64), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["file"], ["files.id"], name=op.f("fk_file_links_file_files")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_file_links")),
        sa.UniqueConstraint("id", name=op.f("uq_file_links_id")),
        sa.UniqueConstraint("token", name=op.f("uq_file_links_token")),
    )
    with op.batch_alter_table("file_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_file_links_account_livemode_created_seq",
            ["account", "livemode", "created", "seq"],
            unique=False,
        )
        batch_op.create_index(
            "ix_file_links_account_livemode_expires_at",
            ["account", "livemode", "expires_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_file_links_account_livemode_file_created_seq",
            ["account", "livemode", "file", "created", "seq"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("file_links", schema=None) as batch_op:
        batch_op.drop_index("ix_file_links_account_livemode_file_created_seq")
        batch_op.drop_index("ix_file_links_account_livemode_expires_at")
        batch_op.drop_index("ix_file_links_account_livemode_created_seq")

    op.drop_table("file_links")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ix_files_account_livemode_purpose_created_seq")
        batch_op.drop_index("ix_files_account_livemode_created_seq")

    op.drop_table("files")
