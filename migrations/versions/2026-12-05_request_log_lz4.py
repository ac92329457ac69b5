"""request_log responses compressed with lz4 (PostgreSQL)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 21:40:00

A logged response over 2 KB (a list's page of links, ~26-64 KB) is compressed by TOAST before
it is stored, by default with pglz: about half of what the insert of such an entry cost the
server (575 against 313 µs an entry of 26 KB, 4 entries a batch, lz4 instead; 300 µs with no
compression at all, for three times the space). lz4 needs PostgreSQL 14 or later built with it
(Debian's and the official images are); elsewhere the column is left as it was. Only values
written from now on are compressed this way. SQLite does not compress.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _set_compression(method: str) -> None:
    # A server without lz4 (or older than 14) refuses it: the column keeps its compression.
    # EXECUTE: the statement is parsed when it runs, so a syntax error is caught as well.
    op.execute(
        "DO $$ BEGIN"
        f" EXECUTE 'ALTER TABLE request_log ALTER COLUMN response SET COMPRESSION {method}';"
        " EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value"
        " THEN NULL; END $$"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _set_compression("lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _set_compression("default")
