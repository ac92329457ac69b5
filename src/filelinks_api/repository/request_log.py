"""The request log: batch inserts, scoped lookups, and the per-scope and total prunes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import (
    and_,
    delete,
    func,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from filelinks_api.models import (
    RequestLogRow,
    request_log,
)
from filelinks_api.repository.base import (
    Executor,
    Scope,
    _scoped,
    _storable,
    first_of,
)
from filelinks_api.repository.fast import _by_scope_and, _driver_cursor, _InsertMany, _lookup

_GET_REQUEST_LOG = _by_scope_and(request_log, "id", RequestLogRow)
_INSERT_REQUEST_LOGS = _InsertMany(request_log)
_COLUMNS = ", ".join(column.name for column in request_log.c if not column.primary_key)
# PostgreSQL: the rows of a batch as one JSON array, one parameter (json_rows)
INSERT_JSON_ROWS = (
    f"INSERT INTO {request_log.name} ({_COLUMNS}) SELECT {_COLUMNS}"
    f" FROM json_populate_recordset(NULL::{request_log.name}, %s::json)"
)


# --- the request log ----------------------------------------------------------------------------


def insert_request_logs(session: Executor, rows: Sequence[dict[str, Any]]) -> None:
    """Insert log entries. On PostgreSQL the table is UNLOGGED (migration 0006): its commits
    do not wait for a WAL flush, and a database crash may lose the diagnostic log, never an
    object. There the rows go as one JSON array, one parameter, which PostgreSQL turns into
    rows itself (json_populate_recordset): psycopg adapting 18 parameters per row in Python
    cost a log-on retrieve more than its own query did."""
    connection = session.connection() if isinstance(session, Session) else session
    if connection.dialect.name == "postgresql":
        payload = json_rows(rows)
        if payload is not None:
            with _driver_cursor(connection, INSERT_JSON_ROWS, payload) as cursor:
                cursor.execute(INSERT_JSON_ROWS, (payload,))
            return
    _INSERT_REQUEST_LOGS.run(connection, rows)


def request_log_rows(dialect: Any, rows: Sequence[dict[str, Any]]) -> tuple[str, list[Any]]:
    """The INSERT of log entries and their parameters for the driver's executemany (a log
    writer with a connection of its own: log_database.py)."""
    return _INSERT_REQUEST_LOGS.for_driver(dialect, rows)


def json_rows(rows: Sequence[dict[str, Any]]) -> str | None:
    """The parameter of INSERT_JSON_ROWS, or None for rows it cannot take: a NUL inside a JSON
    column's value (an error message quoting a hostile path) is one PostgreSQL's json type
    keeps but json_populate_recordset refuses; such rows go the executemany way (which the
    text `\\u0000` itself also takes, harmlessly)."""
    payload = orjson.dumps(rows).decode()
    return payload if "\\u0000" not in payload else None


def get_request_log(session: Executor, scope: Scope, request_id: str) -> RequestLogRow | None:
    if not _storable(request_id):
        return None
    return _lookup(session, _GET_REQUEST_LOG, scope, request_id)


def request_log_cut(session: Executor, scope: Scope, keep: int) -> tuple[int, int] | None:
    """(created, seq) of the scope's newest entry past its newest `keep`, newest as the list
    orders them; None while it holds no more. The walk runs backwards along the scope's
    index, over `keep` entries."""
    cut = (
        select(request_log.c.created, request_log.c.seq)
        .where(_scoped(request_log, scope))
        .order_by(request_log.c.created.desc(), request_log.c.seq.desc())
        .offset(keep)
        .limit(1)
    )
    oldest_dropped = session.execute(cut).first()
    return None if oldest_dropped is None else (oldest_dropped.created, oldest_dropped.seq)


def delete_request_log_through(
    session: Executor, scope: Scope, position: tuple[int, int], *, limit: int | None = None
) -> int:
    """Delete the scope's entries at or before `position` (created, seq), only its oldest
    `limit` of them when given; how many were deleted."""
    through = and_(
        _scoped(request_log, scope),
        tuple_(request_log.c.created, request_log.c.seq) <= tuple_(*position),
    )
    oldest = first_of(request_log, through, [request_log.c.created, request_log.c.seq], limit)
    result = session.execute(delete(request_log).where(oldest))
    return int(result.rowcount)  # type: ignore[attr-defined]


def prune_request_log_total(session: Executor, keep: int, *, limit: int | None = None) -> int:
    """Keep at most `keep` entries in all: those among the newest `keep` recorded (`seq`
    counts every entry recorded, so the cut is found in the primary key, not by a walk); with
    `limit`, delete only the oldest `limit` of the others."""
    newest = session.execute(select(func.max(request_log.c.seq))).scalar()
    if newest is None or newest <= keep:
        return 0
    oldest = first_of(request_log, request_log.c.seq <= newest - keep, [request_log.c.seq], limit)
    result = session.execute(delete(request_log).where(oldest))
    return int(result.rowcount)  # type: ignore[attr-defined]


def delete_request_log(session: Executor, scope: Scope) -> int:
    result = session.execute(delete(request_log).where(_scoped(request_log, scope)))
    return int(result.rowcount)  # type: ignore[attr-defined]
