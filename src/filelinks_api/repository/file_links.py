"""File links: insert, scoped lookups (one for update), the public token lookup, updates, the
`expired` filter and the links embedded in a file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    bindparam,
    func,
    or_,
    select,
)

from filelinks_api.models import (
    FileLinkRow,
    FileRow,
    file_links,
    files,
)
from filelinks_api.repository.base import (
    Executor,
    Lookups,
    Page,
    Scope,
    _scoped,
    _storable,
)
from filelinks_api.repository.fast import (
    _by_scope_and,
    _by_scope_params,
    _Lookup,
    _lookup,
    _Returning,
    _Rows,
)
from filelinks_api.repository.paging import page


class PublicFileRow(NamedTuple):
    """A link's expiry and its file's columns, found by the link's token in one query."""

    link_expires_at: int | None
    seq: int
    id: str
    account: str
    livemode: bool
    created: int
    expires_at: int | None
    filename: str | None
    purpose: str
    size: int
    title: str | None
    type: str | None
    sha256: str

    def file(self) -> FileRow:
        return FileRow._make(self[1:])


_GET_FILE_LINK = _by_scope_and(file_links, "id", FileLinkRow)
_GET_FILE_LINK_FOR_UPDATE = _Lookup(_GET_FILE_LINK.statement.with_for_update(), FileLinkRow)
_GET_PUBLIC_FILE = _Lookup(
    select(file_links.c.expires_at.label("link_expires_at"), *files.c)
    .select_from(file_links.join(files, files.c.id == file_links.c.file))
    .where(file_links.c.token == bindparam("token")),
    PublicFileRow,
)
_LINKS_OF_FILE = _Rows(
    select(file_links)
    .where(
        file_links.c.account == bindparam("account"),
        file_links.c.livemode == bindparam("live"),
        file_links.c.file == bindparam("file"),
    )
    .order_by(file_links.c.created.desc(), file_links.c.seq.desc())
    .limit(bindparam("limit", type_=Integer)),
    FileLinkRow,
)
_INSERT_FILE_LINK = _Returning(file_links, FileLinkRow)
_UPDATE_FILE_LINK = _Returning(file_links, FileLinkRow, update_by_seq=True)


# --- file links -----------------------------------------------------------------------------


def insert_file_link(session: Executor, values: dict[str, Any]) -> FileLinkRow:
    """The new row, as stored (RETURNING: no second query)."""
    return _INSERT_FILE_LINK.one(session, values)


def get_file_link(
    session: Executor, scope: Scope, link_id: str, *, for_update: bool = False
) -> FileLinkRow | None:
    if not _storable(link_id):
        return None
    statement = _GET_FILE_LINK_FOR_UPDATE if for_update else _GET_FILE_LINK
    return _lookup(session, statement, scope, link_id)


async def find_file_link(db: Lookups, scope: Scope, link_id: str) -> FileLinkRow | None:
    """`get_file_link`, as a statement of its own (no unit of work around it)."""
    if not _storable(link_id):
        return None
    row: FileLinkRow | None = await db.lookup(_GET_FILE_LINK, _by_scope_params(scope, link_id))
    return row


def get_public_file(session: Executor, token: str) -> PublicFileRow | None:
    """The file behind a link token and the link's expiry: one query, no account needed."""
    if not _storable(token):
        return None
    return _GET_PUBLIC_FILE.first(session, {"token": token})


async def find_public_file(db: Lookups, token: str) -> PublicFileRow | None:
    """`get_public_file`, as a statement of its own (no unit of work around it)."""
    if not _storable(token):
        return None
    row: PublicFileRow | None = await db.lookup(_GET_PUBLIC_FILE, {"token": token})
    return row


def update_file_link(session: Executor, seq: int, values: dict[str, Any]) -> FileLinkRow:
    """The updated row (RETURNING: no second query)."""
    return _UPDATE_FILE_LINK.one(session, values, seq)


def expired_filter(expired: bool | None, now: int) -> list[Any]:
    if expired is None:
        return []
    column = file_links.c.expires_at
    if expired:
        return [column.is_not(None), column <= now]
    return [or_(column.is_(None), column > now)]


async def find_links_of_file(
    db: Lookups, scope: Scope, file_id: str, limit: int
) -> Page[FileLinkRow]:
    """`links_for_files` of one file, as a statement of its own (no unit of work around it):
    the same page, newest first."""
    rows: list[FileLinkRow] = await db.rows(
        _LINKS_OF_FILE,
        {"account": scope.account, "live": scope.livemode, "file": file_id, "limit": limit + 1},
    )
    return Page(rows=rows[:limit], has_more=len(rows) > limit)


def links_for_files(
    session: Executor, scope: Scope, file_ids: Sequence[str], limit: int
) -> dict[str, Page[FileLinkRow]]:
    """The first page of links of each file (newest first), as embedded in `file.links`: one
    query for any number of files (a window numbering each file's links, newest first)."""
    if not file_ids:
        return {}
    if len(file_ids) == 1:  # the common case (a retrieve): the plain indexed page
        return {
            file_ids[0]: page(
                session,
                file_links,
                FileLinkRow,
                scope,
                [file_links.c.file == file_ids[0]],
                limit=limit,
                starting_after=None,
                ending_before=None,
            )
        }
    position = (
        func.row_number()
        .over(
            partition_by=file_links.c.file,
            order_by=(file_links.c.created.desc(), file_links.c.seq.desc()),
        )
        .label("position")
    )
    numbered = (
        select(file_links, position)
        .where(_scoped(file_links, scope), file_links.c.file.in_(set(file_ids)))
        .subquery()
    )
    query = (
        select(*(numbered.c[column.name] for column in file_links.c))
        .where(numbered.c.position <= limit + 1)
        .order_by(numbered.c.file, numbered.c.position)
    )
    found: dict[str, list[FileLinkRow]] = {file_id: [] for file_id in file_ids}
    for values in session.execute(query):
        link = FileLinkRow._make(values)
        found[link.file].append(link)
    return {
        file_id: Page(rows=rows[:limit], has_more=len(rows) > limit)
        for file_id, rows in found.items()
    }
