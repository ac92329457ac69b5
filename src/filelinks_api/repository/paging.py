"""The one list pager: newest first by (created, seq), `limit` rows and whether more follow,
from a cursor (`starting_after`, `ending_before`) or from the start.

The first page of a scope with no other filter, the most common list call, is a statement
compiled once per table and dialect, run on the driver's cursor (fast._Rows): built and run
through SQLAlchemy each time (a new select, its cache key, a Row per row), a page of 50
links cost 472 µs in-process, 309-351 this way (bench/asgi_cost.py, SQLite, log off)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Table, bindparam, select, tuple_

from filelinks_api.repository.base import (
    CursorNotFound,
    Executor,
    Lookups,
    Page,
    R,
    Scope,
    _scoped,
    _storable,
)
from filelinks_api.repository.fast import _Rows

_FIRST_PAGES: dict[Table, _Rows[Any]] = {}


def _first_page_query(table: Table, row: type[R]) -> _Rows[R]:
    query = _FIRST_PAGES.get(table)
    if query is None:
        statement = (
            select(table)
            .where(table.c.account == bindparam("account"), table.c.livemode == bindparam("live"))
            .order_by(table.c.created.desc(), table.c.seq.desc())
            .limit(bindparam("limit", type_=Integer))
        )
        query = _FIRST_PAGES[table] = _Rows(statement, row)
    return query


def _first_page_params(scope: Scope, limit: int) -> dict[str, Any]:
    return {"account": scope.account, "live": scope.livemode, "limit": limit + 1}


def _first_page(session: Executor, table: Table, row: type[R], scope: Scope, limit: int) -> Page:
    rows = _first_page_query(table, row).all(session, _first_page_params(scope, limit))
    return Page(rows=rows[:limit], has_more=len(rows) > limit)


async def find_first_page(
    db: Lookups, table: Table, row: type[R], scope: Scope, limit: int
) -> Page[R]:
    """`page` of a scope with no filter and no cursor, as a statement of its own (no unit of
    work around it: db.Database.rows)."""
    rows = await db.rows(_first_page_query(table, row), _first_page_params(scope, limit))
    return Page(rows=rows[:limit], has_more=len(rows) > limit)


def page(
    session: Executor,
    table: Table,
    row: type[R],
    scope: Scope,
    conditions: list[Any],
    *,
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
) -> Page:
    if not conditions and starting_after is None and ending_before is None:
        return _first_page(session, table, row, scope, limit)
    where = [_scoped(table, scope), *conditions]
    key = tuple_(table.c.created, table.c.seq)
    backwards = False
    cursor_id = starting_after or ending_before
    if cursor_id is not None:
        param = "starting_after" if starting_after else "ending_before"
        cursor = (
            session.execute(
                select(table.c.created, table.c.seq).where(
                    _scoped(table, scope), table.c.id == cursor_id
                )
            ).first()
            if _storable(cursor_id)
            else None
        )
        if cursor is None:
            raise CursorNotFound(param, cursor_id)
        position = tuple_(cursor.created, cursor.seq)
        if starting_after:
            where.append(key < position)
        else:
            where.append(key > position)
            backwards = True
    query = select(table).where(*where).limit(limit + 1)
    if backwards:
        query = query.order_by(table.c.created.asc(), table.c.seq.asc())
    else:
        query = query.order_by(table.c.created.desc(), table.c.seq.desc())
    rows = [row._make(values) for values in session.execute(query).all()]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    return Page(rows=rows, has_more=has_more)
