"""What every query shares: the account scope, the executor, the `created` filter and the
one list pager."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from filelinks_api.models import (
    FileLinkRow,
    FileRow,
    RequestLogRow,
)

# What the functions here run their SQL on: a write session, or a connection for reads.
Executor: TypeAlias = Session | Connection


@dataclass(frozen=True)
class Scope:
    account: str
    livemode: bool


R = TypeVar("R", FileRow, FileLinkRow, RequestLogRow)
_Row = TypeVar("_Row", bound=tuple[Any, ...])


@dataclass
class Page(Generic[R]):
    rows: Sequence[R]
    has_more: bool


class CursorNotFound(LookupError):
    def __init__(self, param: str, object_id: str) -> None:
        super().__init__(object_id)
        self.param = param
        self.object_id = object_id


def _storable(text: str) -> bool:
    """Whether `text` could be a stored id or token. An id from a URL path may hold a NUL,
    which no row holds and PostgreSQL refuses in a query (a 500 instead of a 404)."""
    return "\x00" not in text


def _dialect_name(executor: Executor) -> str:
    return (executor.get_bind() if isinstance(executor, Session) else executor).dialect.name


def _scoped(table: Table, scope: Scope) -> ColumnElement[bool]:
    return and_(table.c.account == scope.account, table.c.livemode == scope.livemode)


def created_filter(table: Table, created: int | Mapping[str, int] | None) -> list[Any]:
    if created is None:
        return []
    column = table.c.created
    if isinstance(created, int):
        return [column == created]
    ops = {"gt": column.__gt__, "gte": column.__ge__, "lt": column.__lt__, "lte": column.__le__}
    return [ops[key](value) for key, value in created.items()]


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
