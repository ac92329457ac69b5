"""clock_epoch and clock_listeners (the test clock's channel on PostgreSQL)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 20:10:00

Replicas sharing a PostgreSQL database learn of a clock change by LISTEN/NOTIFY instead of the
clocks.epoch file's mtime, which needs a shared data dir. Created on SQLite too, unused there,
so that both engines have one schema.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    epoch = op.create_table(
        "clock_epoch",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clock_epoch")),
    )
    op.bulk_insert(epoch, [{"id": 1, "epoch": 0}])
    op.create_table(
        "clock_listeners",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("seen_epoch", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clock_listeners")),
    )


def downgrade() -> None:
    op.drop_table("clock_listeners")
    op.drop_table("clock_epoch")
