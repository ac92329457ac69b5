"""Files: insert, scoped lookups, and the ids the start-up sweep checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    select,
)

from filelinks_api.models import (
    FileRow,
    files,
)
from filelinks_api.repository.base import (
    Executor,
    Lookups,
    Scope,
    _scoped,
    _storable,
)
from filelinks_api.repository.fast import _by_scope_and, _by_scope_params, _lookup, _Returning

_GET_FILE = _by_scope_and(files, "id", FileRow)
_INSERT_FILE = _Returning(files, FileRow)


# --- files ----------------------------------------------------------------------------------


def insert_file(session: Executor, values: dict[str, Any]) -> FileRow:
    """The new row, as stored (RETURNING: no second query)."""
    return _INSERT_FILE.one(session, values)


def get_file(session: Executor, scope: Scope, file_id: str) -> FileRow | None:
    if not _storable(file_id):
        return None
    return _lookup(session, _GET_FILE, scope, file_id)


async def find_file(db: Lookups, scope: Scope, file_id: str) -> FileRow | None:
    """`get_file`, as a statement of its own (no unit of work around it)."""
    if not _storable(file_id):
        return None
    row: FileRow | None = await db.lookup(_GET_FILE, _by_scope_params(scope, file_id))
    return row


def get_files(session: Executor, scope: Scope, file_ids: set[str]) -> dict[str, FileRow]:
    if not file_ids:
        return {}
    rows = session.execute(select(files).where(_scoped(files, scope), files.c.id.in_(file_ids)))
    return {row.id: FileRow._make(row) for row in rows}


# --- maintenance at start (orphan sweep) --------------------------------------------------------
# Not scoped to an account: `serve` asks which stored contents still have their row.


def existing_file_ids(session: Executor, file_ids: Sequence[str]) -> set[str]:
    if not file_ids:
        return set()
    return set(session.execute(select(files.c.id).where(files.c.id.in_(file_ids))).scalars())
