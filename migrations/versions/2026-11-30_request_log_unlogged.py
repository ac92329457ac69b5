"""request_log unlogged (PostgreSQL)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 19:40:00

The request log is a diagnostic written on every request. As an UNLOGGED table its inserts
write no WAL, so their commits do not wait for a WAL flush (which a per-transaction
`SET LOCAL synchronous_commit = off` bought before, at the cost of a round trip). A database
crash empties it, as a crash of the old setting could lose its last entries; it is never
shipped to a standby. Objects (files, links, keys) stay logged. SQLite has no such thing.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE request_log SET UNLOGGED")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE request_log SET LOGGED")
