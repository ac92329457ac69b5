"""What every query shares: the account scope, the executor, rows, pages and the `created`
filter (the pager is paging.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    select,
)
from sqlalchemy.orm import Session

from filelinks_api.models import (
    FileLinkRow,
    FileRow,
    RequestLogRow,
)

# What the functions here run their SQL on: a write session, or a connection for reads.
Executor: TypeAlias = Session | Connection


class Lookups(Protocol):
    """What runs a one-row lookup as a statement of its own, outside any unit of work
    (db.Database.lookup)."""

    async def lookup(self, lookup: Any, params: dict[str, Any]) -> Any: ...

    async def rows(self, rows: Any, params: dict[str, Any]) -> list[Any]: ...


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


def first_of(
    table: Table, where: ColumnElement[bool], order: Sequence[Any], limit: int | None
) -> ColumnElement[bool]:
    """`where`, narrowed with `limit` to the first `limit` rows it matches in `order` (by the
    primary key `seq`): a DELETE of one slice (services/slices.py)."""
    if limit is None:
        return where
    first = select(table.c.seq).where(where).order_by(*order).limit(limit)
    return table.c.seq.in_(first.scalar_subquery())


def created_filter(table: Table, created: int | Mapping[str, int] | None) -> list[Any]:
    if created is None:
        return []
    column = table.c.created
    if isinstance(created, int):
        return [column == created]
    ops = {"gt": column.__gt__, "gte": column.__ge__, "lt": column.__lt__, "lte": column.__le__}
    return [ops[key](value) for key, value in created.items()]
