"""The request log: batch inserts, scoped lookups, and the per-scope and total prunes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    delete,
    func,
    select,
    tuple_,
)

from filelinks_api.models import (
    RequestLogRow,
    request_log,
)
from filelinks_api.repository.base import (
    Executor,
    Scope,
    _scoped,
    _storable,
)
from filelinks_api.repository.fast import _by_scope_and, _InsertMany, _lookup

_GET_REQUEST_LOG = _by_scope_and(request_log, "id", RequestLogRow)
_INSERT_REQUEST_LOGS = _InsertMany(request_log)


# --- the request log ----------------------------------------------------------------------------


def insert_request_logs(session: Executor, rows: Sequence[dict[str, Any]]) -> None:
    """Insert log entries. On PostgreSQL the table is UNLOGGED (migration 0006): its commits
    do not wait for a WAL flush, and a database crash may lose the diagnostic log, never an
    object."""
    _INSERT_REQUEST_LOGS.run(session, rows)


def get_request_log(session: Executor, scope: Scope, request_id: str) -> RequestLogRow | None:
    if not _storable(request_id):
        return None
    return _lookup(session, _GET_REQUEST_LOG, scope, request_id)


def prune_request_log(session: Executor, scope: Scope, keep: int) -> int:
    """Keep the scope's newest `keep` entries, newest as the list orders them (created, seq):
    the walk to the cut-off runs backwards along the scope's index."""
    cut = (
        select(request_log.c.created, request_log.c.seq)
        .where(_scoped(request_log, scope))
        .order_by(request_log.c.created.desc(), request_log.c.seq.desc())
        .offset(keep)
        .limit(1)
    )
    oldest_dropped = session.execute(cut).first()
    if oldest_dropped is None:
        return 0
    position = tuple_(oldest_dropped.created, oldest_dropped.seq)
    result = session.execute(
        delete(request_log).where(
            _scoped(request_log, scope),
            tuple_(request_log.c.created, request_log.c.seq) <= position,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def prune_request_log_total(session: Executor, keep: int) -> int:
    """Keep at most `keep` entries in all: those among the newest `keep` recorded (`seq`
    counts every entry recorded, so the cut is found in the primary key, not by a walk)."""
    newest = session.execute(select(func.max(request_log.c.seq))).scalar()
    if newest is None or newest <= keep:
        return 0
    result = session.execute(delete(request_log).where(request_log.c.seq <= newest - keep))
    return int(result.rowcount)  # type: ignore[attr-defined]


def delete_request_log(session: Executor, scope: Scope) -> int:
    result = session.execute(delete(request_log).where(_scoped(request_log, scope)))
    return int(result.rowcount)  # type: ignore[attr-defined]
