"""fault rules, and the request log's fault

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 22:00:00

Fault rules make the scope's /v1 requests fail on demand (services/faults.py); every worker
and replica reads them here. The request log records which rule acted on a request.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fault_rules",
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
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=True),
        sa.Column("path", sa.String(length=2048), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=True),
        sa.Column("code", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("delay_ms", sa.Integer(), nullable=True),
        sa.Column("reset_when", sa.String(length=8), nullable=True),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_fault_rules")),
        sa.UniqueConstraint("id", name=op.f("uq_fault_rules_id")),
    )
    with op.batch_alter_table("fault_rules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fault_rules_account_livemode_seq", ["account", "livemode", "seq"], unique=False
        )
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fault", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.drop_column("fault")
    with op.batch_alter_table("fault_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_fault_rules_account_livemode_seq")
    op.drop_table("fault_rules")
