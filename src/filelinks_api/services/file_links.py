"""File links: create, retrieve, update, list, and the public URL behind `url`.

Emulates Stripe's File Links API: links only to the 14 link-eligible purposes, `expires_at`
strictly in the future, `now` expires at once, `''` never expires; metadata merges (a key set
to '' is removed, metadata='' clears it) within Stripe's limits; an expired link can no longer
be updated. `expired` is computed from `expires_at` and the clock on every read.

Limits: Stripe's exact wording for several refusals is not known (reference §15); ours say
what went wrong and name the parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from filelinks_api import ids, repository
from filelinks_api.clock import expired
from filelinks_api.errors import InvalidRequestError
from filelinks_api.models import FileLinkRow, FileRow, file_links
from filelinks_api.purposes import LINKABLE_PURPOSES
from filelinks_api.repository import Executor, Page, Scope
from filelinks_api.schemas import CreateFileLinkParams, ListFileLinksParams, UpdateFileLinkParams
from filelinks_api.services.missing import missing
from filelinks_api.services.pager import list_page
from filelinks_api.wire.params import METADATA_MAX_KEYS, expansions, too_many_metadata_keys

if TYPE_CHECKING:
    from filelinks_api.db import Database

EXPANDABLE: Mapping[str, Any] = {"file": {"links": {}}}
FUTURE_TIMESTAMP = "Invalid timestamp: must be an integer Unix timestamp in the future."


@dataclass
class LinkView:
    link: FileLinkRow
    file: FileRow | None = None  # set when `file` is expanded
    file_links: Page[FileLinkRow] | None = None


def check_future(expires_at: int | None, now: int, param: str) -> int | None:
    if expires_at is not None and expires_at <= now:
        raise InvalidRequestError(FUTURE_TIMESTAMP, param=param)
    return expires_at


def insert(
    session: Executor,
    scope: Scope,
    file: FileRow,
    *,
    expires_at: int | None,
    metadata: dict[str, str] | None,
    now: int,
) -> FileLinkRow:
    """Add a link to `file` (already checked to be linkable); returns its row."""
    return repository.insert_file_link(
        session,
        {
            "id": ids.file_link_id(),
            "account": scope.account,
            "livemode": scope.livemode,
            "created": now,
            "expires_at": expires_at,
            "file": file.id,
            "metadata": {k: v for k, v in (metadata or {}).items() if v != ""},
            "token": ids.link_token(),
        },
    )


def create(session: Executor, scope: Scope, params: CreateFileLinkParams, *, now: int) -> LinkView:
    expand = expansions(params.expand, EXPANDABLE, on_list=False)
    file = repository.get_file(session, scope, params.file)
    if file is None:
        raise missing(session, scope, "file", params.file, param="file")
    if file.purpose not in LINKABLE_PURPOSES:
        raise InvalidRequestError(
            f"Links can't be created for files with purpose '{file.purpose}'. The file's purpose"
            f" must be one of: {', '.join(LINKABLE_PURPOSES)}.",
            param="file",
        )
    expires_at = check_future(params.expires_at, now, "expires_at")
    link = insert(session, scope, file, expires_at=expires_at, metadata=params.metadata, now=now)
    return _view(session, scope, link, expand)


def retrieve(session: Executor, scope: Scope, link_id: str, expand_paths: list[str]) -> LinkView:
    expand = expansions(expand_paths, EXPANDABLE, on_list=False)
    return _view(session, scope, _get(session, scope, link_id), expand)


async def fetch(db: Database, scope: Scope, link_id: str, expand_paths: list[str]) -> LinkView:
    """`retrieve` as GET /v1/file_links/{id} runs it: a link without expansions is one lookup
    (Database.lookup: on PostgreSQL, outside SQLAlchemy's pool and greenlet); an expansion, or
    a link not found (whose error says why), is a read of `retrieve`."""
    if not expansions(expand_paths, EXPANDABLE, on_list=False):
        link = await repository.find_file_link(db, scope, link_id)
        if link is not None:
            return LinkView(link)
    return await db.read(retrieve, scope, link_id, expand_paths)


def update(
    session: Executor, scope: Scope, link_id: str, params: UpdateFileLinkParams, *, now: int
) -> LinkView:
    expand = expansions(params.expand, EXPANDABLE, on_list=False)
    # Read-merge-write under a row lock (PostgreSQL) or the write lock (SQLite, BEGIN IMMEDIATE).
    link = _get(session, scope, link_id, for_update=True)
    if expired(link.expires_at, now):
        raise InvalidRequestError(
            f"The file link {link_id} has expired and can no longer be updated.", param="id"
        )
    sent = params.model_fields_set
    values: dict[str, Any] = {}
    if "expires_at" in sent:
        if params.expires_at == "now":
            values["expires_at"] = now
        else:
            values["expires_at"] = check_future(params.expires_at, now, "expires_at")
    if "metadata" in sent:
        values["metadata"] = merge_metadata(link.metadata, params.metadata)
    if values:
        link = repository.update_file_link(session, link.seq, values)
    return _view(session, scope, link, expand)


def merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    """None clears everything; '' removes a key; anything else sets it. At most 50 keys after."""
    if update is None:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > METADATA_MAX_KEYS:
        raise InvalidRequestError(too_many_metadata_keys(len(merged)), param="metadata")
    return merged


@dataclass
class LinkListView:
    page: Page[FileLinkRow]
    files: dict[str, FileRow]
    file_links: dict[str, Page[FileLinkRow]]


def list_links(
    session: Executor, scope: Scope, params: ListFileLinksParams, *, now: int
) -> LinkListView:
    expand = expansions(params.expand, EXPANDABLE, on_list=True)
    conditions = _list_conditions(params, now)
    page = list_page(session, file_links, FileLinkRow, scope, conditions, params, kind="file_link")
    files: dict[str, FileRow] = {}
    links: dict[str, Page[FileLinkRow]] = {}
    if "file" in expand:
        files = repository.get_files(session, scope, {row.file for row in page.rows})
        links = repository.links_for_files(session, scope, list(files), EMBEDDED_LINKS)
    return LinkListView(page=page, files=files, file_links=links)


async def fetch_list(
    db: Database, scope: Scope, params: ListFileLinksParams, *, now: int
) -> LinkListView:
    """`list_links` as GET /v1/file_links runs it: the first page of the scope's links, with
    no filter, cursor or expansion, is one statement (Database.rows: on PostgreSQL, outside
    SQLAlchemy's pool and greenlet); any other page is a read of `list_links`."""
    if (
        params.starting_after is None
        and params.ending_before is None
        and not expansions(params.expand, EXPANDABLE, on_list=True)
        and not _list_conditions(params, now)
    ):
        page = await repository.find_first_page(db, file_links, FileLinkRow, scope, params.limit)
        return LinkListView(page=page, files={}, file_links={})
    return await db.read(list_links, scope, params, now=now)


def _list_conditions(params: ListFileLinksParams, now: int) -> list[Any]:
    conditions = [
        *repository.created_filter(file_links, params.created),
        *repository.expired_filter(params.expired, now),
    ]
    if params.file is not None:
        conditions.append(file_links.c.file == params.file)
    return conditions


@dataclass
class PublicHit:
    """What a public link token leads to: its owner's scope (None: no such token) and the file
    to serve (None: the link or its file has expired)."""

    owner: Scope | None
    file: FileRow | None


async def public_file(db: Database, token: str, *, now: Callable[[Scope], int]) -> PublicHit:
    """The file behind a public link token, unless the link (or its file) has expired: one
    lookup (Database.lookup: on PostgreSQL, outside SQLAlchemy's pool and greenlet).

    `now` gives the time of the account owning the link (its test clock may be moved)."""
    found = await repository.find_public_file(db, token)
    if found is None:
        return PublicHit(None, None)
    owner = Scope(found.account, found.livemode)
    time_there = now(owner)
    if expired(found.link_expires_at, time_there) or expired(found.expires_at, time_there):
        return PublicHit(owner, None)
    return PublicHit(owner, found.file())


EMBEDDED_LINKS = 10  # the first page of `file.links`, as a default-sized list


def _get(session: Executor, scope: Scope, link_id: str, *, for_update: bool = False) -> FileLinkRow:
    link = repository.get_file_link(session, scope, link_id, for_update=for_update)
    if link is None:
        raise missing(session, scope, "file_link", link_id, param="id")
    return link


def _view(session: Executor, scope: Scope, link: FileLinkRow, expand: frozenset[str]) -> LinkView:
    if "file" not in expand:
        return LinkView(link)
    file = repository.get_file(session, scope, link.file)
    assert file is not None  # a foreign key guarantees it
    pages = repository.links_for_files(session, scope, [file.id], EMBEDDED_LINKS)
    return LinkView(link, file=file, file_links=pages[file.id])
