"""The list index carries expires_at, so the expired filter stays flat at any size.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 01:56:47.048908
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The new index first, so list queries stay indexed while replicas keep serving.
    with op.batch_alter_table("file_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_file_links_account_livemode_created_seq_expires_at",
            ["account", "livemode", "created", "seq", "expires_at"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_file_links_account_livemode_created_seq"))
        batch_op.drop_index(batch_op.f("ix_file_links_account_livemode_expires_at"))


def downgrade() -> None:
    with op.batch_alter_table("file_links", schema=None) as batch_op:
        batch_op.drop_index("ix_file_links_account_livemode_created_seq_expires_at")
        batch_op.create_index(
            batch_op.f("ix_file_links_account_livemode_expires_at"),
            ["account", "livemode", "expires_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_file_links_account_livemode_created_seq"),
            ["account", "livemode", "created", "seq"],
            unique=False,
        )
