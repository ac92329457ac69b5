"""account_clocks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:44:35.271843
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_clocks",
        sa.Column("account", sa.String(length=160), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("frozen_at", sa.BigInteger(), nullable=True),
        sa.Column("offset_seconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "livemode", name=op.f("pk_account_clocks")),
    )


def downgrade() -> None:
    op.drop_table("account_clocks")
